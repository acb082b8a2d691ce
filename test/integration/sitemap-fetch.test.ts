/**
 * fetchRaw (the sitemap download, src/crawl/fetch.ts) against a real HTTP
 * server on 127.0.0.1: the crawl's guards and limits apply to sitemaps too —
 * media types, redirects through the SSRF guard, the byte limit after
 * Content-Encoding (a gzip bomb stops at the limit), and the body left
 * undecoded for the sitemap parser.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchRaw, type FetchOptions } from '../../src/crawl/fetch.ts';
import { parseSitemap, SITEMAP_ACCEPT } from '../../src/crawl/sitemap.ts';
import { FetchError } from '../../src/errors/index.ts';

const XML = '<?xml version="1.0"?><urlset><url><loc>http://h/a.html</loc></url></urlset>';
let server: Server;
let base: string;
let port: number;
const accepts: string[] = [];

function handler(req: IncomingMessage, res: ServerResponse): void {
  accepts.push(String(req.headers.accept));
  switch (req.url) {
    case '/sitemap.xml':
      return void res.writeHead(200, { 'content-type': 'application/xml; charset=utf-8' }).end(XML);
    case '/sitemap.xml.gz':
      return void res.writeHead(200, { 'content-type': 'application/x-gzip' }).end(gzipSync(XML));
    case '/encoded-bomb':
      // 20 MB of spaces, gzip Content-Encoding: ~20 kB on the wire.
      return void res
        .writeHead(200, { 'content-type': 'application/xml', 'content-encoding': 'gzip' })
        .end(gzipSync(Buffer.alloc(20_000_000, 0x20)));
    case '/page.html':
      return void res.writeHead(200, { 'content-type': 'text/html' }).end('<p>not a sitemap</p>');
    case '/moved':
      return void res.writeHead(301, { location: '/sitemap.xml' }).end();
    case '/to-private':
      return void res.writeHead(302, { location: `http://127.0.0.2:${port}/sitemap.xml` }).end();
    default:
      return void res.writeHead(404).end();
  }
}

beforeAll(async () => {
  server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const opts: FetchOptions = {
  maxBytes: 100_000,
  timeoutMs: 5000,
  maxRedirects: 3,
  userAgent: 'SluiceTest/1.0',
  allowPrivateNetworks: false,
  allowHosts: ['127.0.0.1'],
};

async function failure(path: string): Promise<FetchError> {
  const err = await fetchRaw(`${base}${path}`, opts, SITEMAP_ACCEPT).then(
    (r) => new Error(`expected a failure, got ${JSON.stringify(r)}`),
    (e: unknown) => e,
  );
  if (!(err instanceof FetchError)) throw err;
  return err;
}

describe('fetchRaw for sitemaps', () => {
  it('fetches XML and gzip bodies undecoded, after a redirect, asking for XML', async () => {
    const xml = await fetchRaw(`${base}/moved`, opts, SITEMAP_ACCEPT);
    expect(xml).toMatchObject({ status: 'ok', url: `${base}/sitemap.xml`, contentType: 'application/xml' });
    expect(xml.status === 'ok' && new TextDecoder().decode(xml.body)).toBe(XML);
    expect(accepts.at(-1)).toBe(SITEMAP_ACCEPT.accept);
    const gz = await fetchRaw(`${base}/sitemap.xml.gz`, opts, SITEMAP_ACCEPT);
    expect(gz.status === 'ok' && gz.body[0]).toBe(0x1f);
    expect(
      gz.status === 'ok' && parseSitemap(`${base}/sitemap.xml.gz`, gz.body, { maxBytes: 1e5, maxEntries: 10 }),
    ).toEqual({
      kind: 'urlset',
      entries: [{ url: 'http://h/a.html', lastmodMs: undefined }],
      invalid: 0,
    });
  });

  it('refuses another media type, a Content-Encoding bomb past the limit and a redirect the SSRF guard refuses', async () => {
    expect((await failure('/page.html')).message).toMatch(/content type text\/html is not one of application\/xml/);
    const bomb = await failure('/encoded-bomb');
    expect(bomb.reason).toBe('too-large');
    expect(bomb.message).toMatch(/over the limit of 100000 bytes/);
    expect((await failure('/to-private')).reason).toBe('ssrf');
  });
});
