/**
 * The SSRF guard at connect time (docs/design.md, "SSRF guard"), against a
 * real HTTP server on 127.0.0.1 and a real DNS server of the test's own
 * (CRAWL_DNS_SERVERS → dns.Resolver#setServers), so the real lookup path runs.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchDocument, type FetchOptions } from '../../src/crawl/fetch.ts';
import { RedirectOutOfScopeError, SsrfRefusedError } from '../../src/errors/index.ts';
import { CrawlPayloadSchema } from '../../src/queue/contracts.ts';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';

/** A public address (nothing listens there for the test; the guard must never connect to the second answer). */
const PUBLIC = '93.184.215.14';
const HTML = '<!doctype html><title>Internal</title><p>internal secret page</p>';

let server: Server;
let port: number;
let dns: TestDnsServer;

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const redirect = (to: string) => {
      res.writeHead(302, { location: to });
      res.end();
    };
    switch (url.pathname) {
      case '/docs/page.html':
      case '/page.html':
        res.writeHead(200, { 'content-type': 'text/html' });
        return res.end(HTML);
      case '/docs/to-metadata':
        return redirect('http://169.254.169.254/latest/meta-data/iam/security-credentials/');
      case '/docs/to-outside':
        return redirect(`http://127.0.0.1:${port}/page.html`);
      case '/docs/to-inside':
        return redirect('/docs/page.html');
      default:
        res.writeHead(404);
        return res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  dns = await startDnsServer({
    // Public first (what a check-then-fetch guard would see), loopback afterwards, TTL 0.
    'rebind.test': [[PUBLIC], ['127.0.0.1']],
    'loopback.test': [['127.0.0.1']],
  });
});

afterAll(async () => {
  await dns.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const opts = (over: Partial<FetchOptions> = {}): FetchOptions => ({
  maxBytes: 100_000,
  timeoutMs: 5_000,
  maxRedirects: 5,
  userAgent: 'SluiceTest',
  allowPrivateNetworks: false,
  dnsServers: [dns.server],
  ...over,
});

describe('the SSRF guard at connect time', () => {
  it('refuses a DNS name that answers a public address and then 127.0.0.1 (rebinding, TTL 0)', async () => {
    const err = await fetchDocument(`http://rebind.test:${port}/page.html`, opts()).catch((e: unknown) => e);
    // Both answers were used: the first by the check before the request, the second by the connect.
    expect(dns.queries.get('rebind.test')).toBe(2);
    expect(err).toBeInstanceOf(SsrfRefusedError);
    expect((err as SsrfRefusedError).reason).toBe('ssrf');
    expect((err as Error).message).toMatch(/rebind\.test → 127\.0\.0\.1 is not a public address \(loopback\)/);
    expect((err as Error).message).toContain('CRAWL_ALLOW_HOSTS');
  });

  it('refuses a name resolving to loopback before connecting', async () => {
    const err = await fetchDocument(`http://loopback.test:${port}/page.html`, opts()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SsrfRefusedError);
    expect((err as Error).message).toMatch(/loopback\.test → 127\.0\.0\.1/);
  });

  it('allows a host named in the configuration, by name or by network', async () => {
    const byName = await fetchDocument(
      `http://loopback.test:${port}/page.html`,
      opts({ allowHosts: ['loopback.test'] }),
    );
    expect(byName).toMatchObject({ status: 'ok', text: HTML });
    const byNet = await fetchDocument(
      `http://loopback.test:${port}/page.html`,
      opts({ allowNetworks: [{ address: '127.0.0.0', prefix: 8, family: 'ipv4' }] }),
    );
    expect(byNet).toMatchObject({ status: 'ok' });
  });

  it('refuses a redirect to 169.254.169.254 from an allowed host', async () => {
    const err = await fetchDocument(
      `http://127.0.0.1:${port}/docs/to-metadata`,
      opts({ allowHosts: ['127.0.0.1'] }),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SsrfRefusedError);
    expect((err as Error).message).toMatch(/169\.254\.169\.254 is not a public address \(link-local\)/);
    expect((err as Error).message).toMatch(/reached by redirect from/);
  });

  it('refuses a redirect out of the crawl scope, and follows one inside it to the final URL', async () => {
    const scope = `http://127.0.0.1:${port}/docs/`;
    const err = await fetchDocument(
      `http://127.0.0.1:${port}/docs/to-outside`,
      opts({ allowHosts: ['127.0.0.1'], scope }),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RedirectOutOfScopeError);
    expect((err as RedirectOutOfScopeError).reason).toBe('out-of-scope');
    expect((err as Error).message).toContain(`outside the crawl scope ${scope}`);
    const inside = await fetchDocument(
      `http://127.0.0.1:${port}/docs/to-inside`,
      opts({ allowHosts: ['127.0.0.1'], scope }),
    );
    expect(inside).toMatchObject({ status: 'ok', url: `http://127.0.0.1:${port}/docs/page.html` });
  });

  it('refuses a crawl payload naming a trusted host', () => {
    const r = CrawlPayloadSchema.safeParse({
      runId: 'r',
      collection: 'c',
      source: { type: 'url', url: 'http://10.0.0.1/', scope: 'http://10.0.0.1/', depth: 0 },
      limits: { maxPages: 1, maxDepth: 0 },
      trustedHosts: ['10.0.0.1'],
    });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toMatch(/trustedHosts is not accepted in a payload.*CRAWL_ALLOW_HOSTS/);
  });
});
