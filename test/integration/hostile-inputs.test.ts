/**
 * Hostile inputs (docs/design.md, "SSRF guard", "Source roots", "Caps where
 * work enters", "Secrets"): pages, sources, paths, payloads and config
 * values an attacker (or a careless producer) could hand Sluice. Each ends
 * as a named error or as correct content, and nothing else in its run is
 * lost. Real Redis, PostgreSQL, HTTP, files and a DNS server of the test's
 * own (CRAWL_DNS_SERVERS); the emulator over HTTP.
 */
import fs from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { startEmulator, type RunningEmulator } from '@sluice/openai-emulator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { ConfigError } from '../../src/errors/index.ts';
import { ingest, type IngestSummary } from '../../src/ingest/ingest.ts';
import type { SourceInput } from '../../src/ingest/sources.ts';
import { registry } from '../../src/metrics/metrics.ts';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';
import { openTestRuntime, type TestRuntime } from '../helpers/runtime.ts';
import { until } from '../helpers/wait.ts';

const SECRET = 'hunter2-do-not-log';
const SECRET_FILE_TEXT = 'top secret credential from outside the root';
const MAX_BYTES = 20_000;

let server: Server;
let port: number;
let base: string;
let dns: TestDnsServer;
let emu: RunningEmulator;
let t: TestRuntime;
let dir: string;
let root: string;
let outside: string;

const page = (title: string, body: string) => `<!doctype html><title>${title}</title><body>${body}</body>`;

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const send = (status: number, headers: Record<string, string | number>, body?: string | Buffer) => {
      res.writeHead(status, headers);
      res.end(body);
    };
    const html = (body: string) => send(200, { 'content-type': 'text/html; charset=utf-8' }, body);
    const redirect = (to: string) => send(302, { location: to });
    switch (url.pathname) {
      case '/robots.txt':
        return send(404, {});
      case '/h/good.html':
        return html(page('Good', '<p>The good page is indexed.</p><a href="linked.html">next</a>'));
      case '/h/linked.html':
        return html(page('Linked', '<p>A linked page in scope.</p>'));
      case '/h/target.html':
        return html(page('Target', '<p>The page an in-scope redirect leads to.</p>'));
      case '/h/to-inside':
        return redirect('/h/target.html');
      case '/h/to-metadata':
        return redirect('http://169.254.169.254/latest/meta-data/');
      case '/h/to-private':
        return redirect('http://10.0.0.1/admin');
      case '/h/to-outside':
        return redirect(`${base}/elsewhere/page.html`);
      case '/h/to-file':
        return redirect('file:///etc/passwd');
      case '/h/to-self':
        return redirect('/h/to-self');
      case '/h/to-credentials':
        return redirect(`http://admin:${SECRET}@127.0.0.1:${port}/h/good.html`);
      case '/h/huge-declared.html':
        return send(200, { 'content-type': 'text/html', 'content-length': 30_000 }, 'x'.repeat(30_000));
      case '/h/huge-streamed.html':
        res.writeHead(200, { 'content-type': 'text/html' });
        for (let i = 0; i < 30; i++) res.write('y'.repeat(1000));
        return res.end();
      case '/h/gzip-bomb.html':
        return send(
          200,
          { 'content-type': 'text/html', 'content-encoding': 'gzip' },
          gzipSync(Buffer.alloc(5_000_000, 97)),
        );
      case '/h/binary':
        return send(200, { 'content-type': 'application/octet-stream' }, Buffer.from([0, 1, 2, 3]));
      case '/h/bad-utf8.txt':
        return send(200, { 'content-type': 'text/plain; charset=utf-8' }, Buffer.from([0x61, 0xff, 0xfe, 0x62]));
      case '/h/empty.html':
        return html('   ');
      case '/h/script-only.html':
        return html('<script>fetch("http://169.254.169.254/")</script>');
      case '/h/deep.html':
        return html(`${'<div>'.repeat(1500)}deeply nested text${'</div>'.repeat(1500)}`);
      case '/h/nul.txt':
        return send(200, { 'content-type': 'text/plain' }, 'before\u0000after: a NUL in the middle of text');
      case '/h/meta-refresh.html':
        return html(
          '<meta http-equiv="refresh" content="0;url=http://169.254.169.254/"><p>A page that asks to be refreshed elsewhere.</p>',
        );
      case '/h/link-farm.html':
        return html(
          page(
            'Links',
            '<p>Links to places the crawl must not go.</p>' +
              '<a href="http://169.254.169.254/latest/meta-data/">m</a><a href="http://10.0.0.1/">p</a>' +
              '<a href="file:///etc/passwd">f</a><a href="javascript:alert(1)">j</a><a href="linked.html">ok</a>',
          ),
        );
      case '/h/base-href.html':
        return html(
          '<base href="http://169.254.169.254/"><p>A base element pointing at the metadata service.</p><a href="latest">x</a>',
        );
      default:
        return send(404, {});
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
  dns = await startDnsServer({
    'internal.test': [['10.0.0.5']],
    'meta.test': [['169.254.169.254']],
    'rebind.test': [['93.184.215.14'], ['127.0.0.2']],
  });

  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-hostile-'));
  root = path.join(dir, 'root');
  outside = path.join(dir, 'outside');
  const files: Record<string, string | Buffer> = {
    'root/site/ok.md': '# OK\n\nA local file under the root.\n',
    'root/site/sub/deep.md': '# Deep\n\nA file in a subdirectory.\n',
    'root/site/.hidden.md': `# Hidden\n\n${SECRET_FILE_TEXT}\n`,
    'root/site/big.md': `# Big\n\n${'z'.repeat(30_000)}\n`,
    'root/site/bad.md': Buffer.from([0x23, 0x20, 0xff, 0xfe]),
    'root/site/empty.md': '',
    'root/site/image.png': Buffer.from([0x89, 0x50, 0x4e, 0x47]),
    'outside/secret.md': `# Secret\n\n${SECRET_FILE_TEXT}\n`,
  };
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), content);
  }
  fs.symlinkSync(path.join(outside, 'secret.md'), path.join(root, 'site', 'link-out.md'));
  fs.symlinkSync(outside, path.join(root, 'site', 'link-dir'));
  fs.symlinkSync(path.join(outside, 'secret.md'), path.join(root, 'notes.md'));

  emu = await startEmulator({ rpm: 100_000, tpm: 100_000_000, seed: 11 });
  t = await openTestRuntime({
    OPENAI_BASE_URL: emu.url,
    CRAWL_ALLOW_HOSTS: '127.0.0.1',
    CRAWL_DNS_SERVERS: dns.server,
    SOURCE_ROOTS: root,
    CRAWL_MAX_BYTES: String(MAX_BYTES),
    CRAWL_TIMEOUT_MS: '5000',
    JOB_ATTEMPTS: '2',
    JOB_BACKOFF_MS: '100',
  });
});

afterAll(async () => {
  await t?.close();
  await emu?.close();
  await dns?.close();
  await new Promise<void>((resolve) => server?.close(() => resolve()));
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** A hostile source and how it must end: content (`ok`) or a failure whose source contains `match`, with an error name. */
interface Case {
  source: SourceInput;
  /** Substring of the failure's `source`; default: the failure's source is the source itself. */
  match?: string;
  /** Error name of the failure, or `ok`. */
  expect: RegExp | 'ok';
}

const NAMED =
  /^(SsrfRefusedError|RedirectOutOfScopeError|SourceRootError|PermanentFetchError|OversizeDocumentError|CredentialsInUrlError|PermanentError|DocumentCpuLimitError|UnrecoverableError)$/;

function cases(): Case[] {
  const h = (p: string) => `${base}/h/${p}`;
  const site = path.join(root, 'site');
  return [
    // Pages.
    { source: h('good.html'), expect: 'ok' },
    { source: h('to-inside'), expect: 'ok' },
    { source: h('to-metadata'), expect: /RedirectOutOfScopeError/ },
    { source: h('to-private'), expect: /RedirectOutOfScopeError/ },
    { source: h('to-outside'), expect: /RedirectOutOfScopeError/ },
    { source: h('to-file'), expect: /RedirectOutOfScopeError/ },
    { source: h('to-self'), expect: /PermanentFetchError/ },
    { source: h('to-credentials'), expect: /PermanentFetchError/ },
    { source: h('huge-declared.html'), expect: /PermanentFetchError/ },
    { source: h('huge-streamed.html'), expect: /PermanentFetchError/ },
    { source: h('gzip-bomb.html'), expect: /PermanentFetchError/ },
    { source: h('binary'), expect: /PermanentFetchError/ },
    { source: h('bad-utf8.txt'), expect: /PermanentFetchError/ },
    { source: h('empty.html'), expect: /PermanentFetchError/ },
    { source: h('missing.html'), expect: /PermanentFetchError/ },
    { source: h('script-only.html'), expect: /PermanentError/ },
    { source: h('deep.html'), expect: 'ok' },
    { source: h('nul.txt'), expect: /PermanentFetchError/ },
    { source: { id: 'nul-inline', text: 'a\u0000b' }, match: '"id":"nul-inline"', expect: /PermanentError/ },
    { source: h('meta-refresh.html'), expect: 'ok' },
    { source: h('link-farm.html'), expect: 'ok' },
    { source: h('base-href.html'), expect: 'ok' },
    // Hosts and addresses.
    { source: `http://internal.test:${port}/x`, expect: /SsrfRefusedError/ },
    { source: 'http://meta.test/latest/meta-data/', expect: /SsrfRefusedError/ },
    { source: `http://rebind.test:${port}/h/good.html`, expect: /SsrfRefusedError/ },
    { source: 'http://nxdomain.test/', expect: /PermanentFetchError/ },
    { source: `http://0.0.0.0:${port}/h/good.html`, expect: /SsrfRefusedError/ },
    { source: `http://[::1]:${port}/h/good.html`, expect: /SsrfRefusedError/ },
    { source: `http://2130706434:${port}/h/good.html`, match: '127.0.0.2', expect: /SsrfRefusedError/ },
    { source: 'http://0x0a000001/', match: '10.0.0.1', expect: /SsrfRefusedError/ },
    { source: 'http://[::ffff:10.0.0.1]/', match: '[::ffff:a00:1]', expect: /SsrfRefusedError/ },
    { source: 'http://[fd00::1]/', expect: /SsrfRefusedError/ },
    { source: `https://admin:${SECRET}@127.0.0.1:${port}/h/good.html`, match: '***@', expect: /CredentialsInUrlError/ },
    { source: 'ftp://127.0.0.1/x', expect: /PermanentError/ },
    { source: 'gopher://127.0.0.1:6379/_FLUSHALL', expect: /PermanentError/ },
    { source: 'javascript:alert(1)', expect: /PermanentError/ },
    { source: `http://127.0.0.1:${port}/${'a'.repeat(9000)}`, match: 'aaaa', expect: /PermanentError/ },
    // Paths.
    { source: 'docs', expect: /PermanentError/ },
    { source: '/etc/passwd', expect: /PermanentError/ },
    { source: { path: '/etc' }, match: '', expect: /SourceRootError/ },
    { source: { path: path.join(root, 'notes.md') }, match: 'notes.md', expect: /SourceRootError/ },
    {
      source: { path: path.join(root, '..', 'outside') },
      match: path.join(root, '..', 'outside'),
      expect: /SourceRootError/,
    },
    { source: pathToFileURL('/etc/hostname').href, match: '/etc/hostname', expect: /SourceRootError/ },
    { source: { path: path.join(root, 'missing') }, match: path.join(root, 'missing'), expect: /PermanentError/ },
    { source: { path: 42 } as unknown as SourceInput, match: '{"path":42}', expect: /PermanentError/ },
    { source: { path: site, extra: 1 } as unknown as SourceInput, match: '"extra":1', expect: /PermanentError/ },
    { source: { path: site }, expect: 'ok' },
    { source: 'file://', match: path.join(site, 'link-out.md'), expect: /SourceRootError/ },
    { source: 'file://', match: path.join(site, 'big.md'), expect: /PermanentFetchError/ },
    { source: 'file://', match: path.join(site, 'bad.md'), expect: /PermanentFetchError/ },
    { source: 'file://', match: path.join(site, 'empty.md'), expect: /PermanentFetchError/ },
    // Inline documents.
    { source: { id: 'ok-inline', text: 'A fine inline document.' }, expect: 'ok' },
    {
      source: { id: 'huge-inline', text: 'x'.repeat(MAX_BYTES + 1) },
      match: 'huge-inline',
      expect: /OversizeDocumentError/,
    },
    { source: '{"id": "broken", "text": ', match: '"broken"', expect: /PermanentError/ },
    { source: { id: '', text: 'x' }, match: '"id":""', expect: /PermanentError/ },
    { source: { id: 'two', text: 'a', html: 'b' }, match: '"id":"two"', expect: /PermanentError/ },
    { source: { id: 'blank', text: '   ' }, match: '"id":"blank"', expect: /PermanentError/ },
    {
      source: { id: 'nested', text: 'a', metadata: { n: { x: 1 } } } as unknown as SourceInput,
      match: '"id":"nested"',
      expect: /PermanentError/,
    },
    { source: '{"id":"proto","text":"x","__proto__":{"polluted":1}}', match: 'proto', expect: /PermanentError/ },
    {
      source: { id: 'script-inline', html: '<script>steal()</script>' },
      match: 'script-inline',
      expect: /PermanentError/,
    },
  ];
}

describe('hostile sources in one run', () => {
  let s: IngestSummary;
  let all: Case[];

  beforeAll(async () => {
    all = cases();
    // The listed files of the directory are not sources: they appear as failures of their own.
    const sources = all.filter((c) => c.source !== 'file://').map((c) => c.source);
    s = await ingest(t.rt, { collection: 'hostile', sources, maxDepth: 1 });
  }, 180_000);

  it('has at least 40 hostile inputs', () => {
    expect(all.length).toBeGreaterThanOrEqual(40);
  });

  it('ends each one as a named error or as its content', async () => {
    const failures = s.failed.map((f) => `${f.errorName}: ${f.source}: ${f.error}`);
    for (const c of all) {
      const exact = typeof c.source === 'string' ? c.source : ((c.source as { path?: string }).path ?? '');
      const key = c.match || exact;
      const failed = s.failed.filter((f) => (c.match ? f.source.includes(c.match) : f.source === exact));
      if (c.expect === 'ok') {
        expect(failed, `${key} should have been indexed; failures:\n${failures.join('\n')}`).toEqual([]);
      } else {
        expect(failed, `${key} should have failed; failures:\n${failures.join('\n')}`).toHaveLength(1);
        expect(failed[0]!.errorName, `${key}: ${failed[0]!.error}`).toMatch(c.expect);
      }
    }
    // Every failure is named, and accounted for by a case: nothing failed that should not have.
    for (const f of s.failed) expect(f.errorName, `${f.source}: ${f.error}`).toMatch(NAMED);
    expect(s.failed).toHaveLength(all.filter((c) => c.expect !== 'ok').length);
  });

  it('indexed the good content, under the URLs whose content it is, and nothing from outside', async () => {
    const { rows } = await t.rt.db.pool.query<{ uri: string }>(
      `SELECT d.uri FROM documents d JOIN collections c ON c.id = d.collection_id WHERE c.name = 'hostile' ORDER BY 1`,
    );
    const uris = rows.map((r) => r.uri);
    for (const u of ['good.html', 'linked.html', 'target.html', 'link-farm.html', 'deep.html', 'meta-refresh.html']) {
      expect(uris, u).toContain(`${base}/h/${u}`);
    }
    // The redirect's content is stored under its final URL, never under the URL that redirected.
    expect(uris).not.toContain(`${base}/h/to-inside`);
    expect(uris).toContain(pathToFileURL(path.join(root, 'site', 'ok.md')).href);
    expect(uris).toContain(pathToFileURL(path.join(root, 'site', 'sub', 'deep.md')).href);
    expect(uris).toContain('inline:ok-inline');
    expect(uris.some((u) => /169\.254|10\.0\.0|elsewhere|secret|hidden|link-dir|passwd/.test(u))).toBe(false);
    const leaked = await t.rt.db.pool.query(`SELECT 1 FROM chunks WHERE text LIKE $1`, [`%${SECRET_FILE_TEXT}%`]);
    expect(leaked.rowCount).toBe(0);
    expect(s.chunksEmbedded).toBeGreaterThan(0);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('keeps no credentials in failure reasons, job records or metrics', async () => {
    expect(JSON.stringify(s)).not.toContain(SECRET);
    const failed = await t.rt.queues.crawl.getFailed();
    for (const j of failed) {
      expect(j.failedReason).not.toContain(SECRET);
      expect(JSON.stringify(j.data)).not.toContain(SECRET);
    }
    expect(await registry.metrics()).not.toContain(SECRET);
  });
});

describe('hostile payloads written straight into the queue', () => {
  const runId = 'hostile-payloads';
  const crawl = (source: unknown, extra: Record<string, unknown> = {}) => ({
    runId,
    collection: 'hostile-payloads',
    source,
    limits: { maxPages: 10, maxDepth: 0 },
    ...extra,
  });

  it.each([
    [
      'a crawl payload naming a trusted host',
      'crawl',
      crawl(
        { type: 'url', url: 'http://10.0.0.1/', scope: 'http://10.0.0.1/', depth: 0 },
        { trustedHosts: ['10.0.0.1'] },
      ),
      /invalid crawl payload: .*trustedHosts is not accepted in a payload/,
    ],
    [
      'limits over their caps',
      'crawl',
      { ...crawl({ type: 'inline', document: { id: 'x', text: 'x' } }), limits: { maxPages: 1e9, maxDepth: 1e6 } },
      /invalid crawl payload: .*maxPages/,
    ],
    ['a relative path', 'crawl', crawl({ type: 'path', path: 'etc/passwd' }), /invalid crawl payload: .*absolute path/],
    [
      'an absolute path outside the roots',
      'crawl',
      crawl({ type: 'path', path: '/etc/passwd' }),
      /outside the source roots/,
    ],
    [
      'an inline document over CRAWL_MAX_BYTES',
      'crawl',
      crawl({ type: 'inline', document: { id: 'big', text: 'x'.repeat(MAX_BYTES + 1) } }),
      /over the limit of 20000 bytes \(CRAWL_MAX_BYTES\)/,
    ],
    [
      'a private URL (a payload cannot allow it)',
      'crawl',
      crawl({ type: 'url', url: 'http://10.0.0.1/', scope: 'http://10.0.0.1/', depth: 0 }),
      /refused by the SSRF guard: 10\.0\.0\.1 is not a public address \(private\)/,
    ],
    [
      'an embed job of 100,001 chunk hashes',
      'embed',
      {
        runId,
        collection: 'hostile-payloads',
        source: 'x',
        model: 'text-embedding-3-small',
        dimensions: 1536,
        chunkHashes: Array.from({ length: 100_001 }, (_, i) => i.toString(16).padStart(64, '0')),
      },
      /invalid embed payload: .*chunkHashes/,
    ],
  ] as const)('refuses %s with a named reason', async (_name, queue, data, reason) => {
    const q = t.rt.queues[queue];
    const job = await q.add(queue, data, { attempts: 1 });
    const failed = await until(
      async () => ((await job.getState()) === 'failed' ? await q.getJob(job.id!) : undefined),
      `job ${job.id} to fail`,
      60_000,
    );
    expect(failed?.failedReason).toMatch(reason);
  });
});

describe('hostile config values', () => {
  const db = { DATABASE_URL: 'postgres://u@h/db' };
  it.each([
    [
      { EMBEDDING_MAX_INPUTS: '2049' },
      /EMBEDDING_MAX_INPUTS="2049": over OpenAI's limit of 2048.*docs\/openai-facts\.md, "Embeddings"/,
    ],
    [
      { EMBEDDING_MAX_REQUEST_TOKENS: '300001' },
      /EMBEDDING_MAX_REQUEST_TOKENS="300001": over OpenAI's limit of 300000.*docs\/openai-facts\.md, "Embeddings"/,
    ],
    [{ CRAWL_ALLOW_HOSTS: '10.0.0.0/33' }, /CRAWL_ALLOW_HOSTS: "10.0.0.0\/33" has a bad prefix length/],
    [{ CRAWL_ALLOW_HOSTS: 'http://evil.example' }, /CRAWL_ALLOW_HOSTS: "http:\/\/evil.example" is not a host name/],
    [{ CRAWL_ALLOW_HOSTS: 'a b' }, /CRAWL_ALLOW_HOSTS: "a b"/],
    [{ CRAWL_DNS_SERVERS: 'dns.google' }, /CRAWL_DNS_SERVERS: "dns.google" is not an IP address/],
    [{ CRAWL_DNS_SERVERS: '1.1.1.1:99999' }, /CRAWL_DNS_SERVERS: "1.1.1.1:99999"/],
    [db, /OPENAI_API_KEY is not set and DATABASE_URL is.*OPENAI_EMULATOR=true/],
    [{ OPENAI_EMULATOR: 'false' }, /OPENAI_API_KEY is not set/],
    [{ OPENAI_EMULATOR: 'maybe' }, /OPENAI_EMULATOR="maybe"/],
    [{ OPENAI_API_KEY: 'sk-x', EMBEDDINGS_PROVIDER: 'emulator' }, /EMBEDDINGS_PROVIDER=emulator names the emulator/],
    [{ OPENAI_API_KEY: 'sk-x', EMBEDDINGS_PROVIDER: 'Open AI' }, /EMBEDDINGS_PROVIDER="Open AI"/],
    [{ SOURCE_MAX_FILES: '0' }, /SOURCE_MAX_FILES="0"/],
  ])('refuses %o', (env, message) => {
    const err = (() => {
      try {
        loadConfig(env);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(message);
  });

  it('accepts hosts, addresses and networks, and the emulator asked for on purpose', () => {
    const c = loadConfig({
      ...db,
      OPENAI_EMULATOR: 'true',
      CRAWL_ALLOW_HOSTS: 'Docs.Internal.,10.1.0.0/16,::1,[fd00::]/8',
    });
    expect(c.crawl.allowHosts).toEqual(['docs.internal']);
    expect(c.crawl.allowNetworks).toEqual([
      { address: '10.1.0.0', prefix: 16, family: 'ipv4' },
      { address: '::1', prefix: 128, family: 'ipv6' },
      { address: 'fd00::', prefix: 8, family: 'ipv6' },
    ]);
    expect(c.openai).toMatchObject({ emulator: true, provider: 'emulator' });
    expect(loadConfig({ ...db, OPENAI_API_KEY: 'sk-x' }).openai).toMatchObject({ emulator: false, provider: 'openai' });
  });
});
