/**
 * fetchDocument and RobotsCache against a real HTTP server on 127.0.0.1.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FetchError, PermanentFetchError, TransientFetchError } from '../../src/errors/index.ts';
import { fetchDocument } from '../../src/crawl/fetch.ts';
import type { FetchOptions } from '../../src/crawl/fetch.ts';
import { RobotsCache } from '../../src/crawl/robots.ts';

const HTML = '<!doctype html><title>Page</title><h1 id="top">Hello</h1><p>World</p>';
const requests: Array<{ url: string; headers: IncomingMessage['headers'] }> = [];
const timers = new Set<NodeJS.Timeout>();
let server: Server;
let base: string;
let port: number;
let robotsMode: 'rules' | '404' | '500' = 'rules';

function handler(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  requests.push({ url: url.pathname, headers: req.headers });
  const send = (status: number, headers: Record<string, string | number>, body?: string | Buffer): void => {
    res.writeHead(status, headers);
    res.end(body);
  };
  const later = (ms: number, fn: () => void): void => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };
  switch (url.pathname) {
    case '/page.html':
      if (req.headers['if-none-match'] === '"v1"') return send(304, { etag: '"v1"' });
      return send(
        200,
        { 'content-type': 'text/html; charset=utf-8', etag: '"v1"', 'last-modified': 'Wed, 21 Oct 2015 07:28:00 GMT' },
        HTML,
      );
    case '/doc.md':
      return send(200, { 'content-type': 'text/plain' }, '# Title\n\ntext');
    case '/page.xhtml':
      return send(200, { 'content-type': 'application/xhtml+xml' }, HTML);
    case '/notes.txt':
      res.removeHeader('content-type');
      return send(200, {}, 'plain notes');
    case '/latin1':
      return send(200, { 'content-type': 'text/plain; charset=iso-8859-1' }, Buffer.from([0x63, 0x61, 0x66, 0xe9]));
    case '/meta-charset':
      return send(
        200,
        { 'content-type': 'text/html' },
        Buffer.concat([
          Buffer.from('<meta charset="windows-1252"><p>caf'),
          Buffer.from([0xe9, 0x80]),
          Buffer.from('</p>'),
        ]),
      );
    case '/utf16':
      return send(
        200,
        { 'content-type': 'text/plain' },
        Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('hi ü', 'utf16le')]),
      );
    case '/invalid-utf8':
      return send(200, { 'content-type': 'text/html' }, Buffer.from([0x3c, 0x70, 0x3e, 0xff, 0xfe, 0x3c]));
    case '/missing':
      return send(404, { 'content-type': 'text/plain' }, 'not here');
    case '/gone':
      return send(410, {}, '');
    case '/binary.bin':
      return send(200, { 'content-type': 'application/octet-stream' }, Buffer.alloc(10));
    case '/big-declared':
      return send(200, { 'content-type': 'text/plain', 'content-length': 5000 }, 'x'.repeat(5000));
    case '/big-chunked': {
      res.writeHead(200, { 'content-type': 'text/plain' });
      let sent = 0;
      const tick = (): void => {
        if (res.destroyed || sent >= 200_000) return void res.end();
        res.write('y'.repeat(500));
        sent += 500;
        later(1, tick);
      };
      return tick();
    }
    case '/empty':
      return send(200, { 'content-type': 'text/html' }, '');
    case '/blank':
      return send(200, { 'content-type': 'text/plain' }, ' \n\t \n');
    case '/r/1':
      return send(301, { location: '/r/2' });
    case '/r/2':
      return send(302, { location: `${base}/r/3` });
    case '/r/3':
      return send(307, { location: '/page.html#frag' });
    case '/to-other-private':
      return send(302, { location: `http://127.0.0.2:${port}/page.html` });
    case '/to-localhost':
      return send(302, { location: `http://localhost:${port}/page.html` });
    case '/no-location':
      return send(302, {});
    case '/slow-headers':
      return later(3000, () => send(200, { 'content-type': 'text/html' }, HTML));
    case '/slow-body':
      res.writeHead(200, { 'content-type': 'text/html' });
      res.write('<p>start');
      return later(3000, () => res.end('</p>'));
    case '/503':
      return send(503, { 'retry-after': '7' }, 'maintenance');
    case '/429':
      return send(429, {}, 'slow down');
    case '/403':
      return send(403, {}, 'no');
    case '/reset':
      req.socket.destroy();
      return;
    case '/robots.txt':
      if (robotsMode === '404') return send(404, {}, 'none');
      if (robotsMode === '500') return send(500, {}, 'broken');
      return send(
        200,
        { 'content-type': 'text/plain' },
        'User-agent: *\nDisallow: /private/\nCrawl-delay: 2\n\nUser-agent: BadBot\nDisallow: /\n',
      );
    default:
      return send(404, {}, 'no route');
  }
}

beforeAll(async () => {
  server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  for (const t of timers) clearTimeout(t);
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const opts = (over: Partial<FetchOptions> = {}): FetchOptions => ({
  maxBytes: 1000,
  timeoutMs: 2000,
  maxRedirects: 3,
  userAgent: 'SluiceTest/1.0 (+https://example.invalid/bot)',
  allowPrivateNetworks: false,
  allowHosts: ['127.0.0.1'],
  ...over,
});

async function failure(path: string, over: Partial<FetchOptions> = {}): Promise<FetchError> {
  const err = await fetchDocument(`${base}${path}`, opts(over)).then(
    (r) => new Error(`expected a failure, got ${JSON.stringify(r)}`),
    (e: unknown) => e,
  );
  if (!(err instanceof FetchError)) throw err;
  return err;
}

describe('fetchDocument', () => {
  it('fetches HTML with validators, sending the user agent', async () => {
    const r = await fetchDocument(`${base}/page.html`, opts());
    expect(r).toEqual({
      status: 'ok',
      url: `${base}/page.html`,
      contentType: 'text/html',
      kind: 'html',
      text: HTML,
      etag: '"v1"',
      lastModified: 'Wed, 21 Oct 2015 07:28:00 GMT',
      bytes: Buffer.byteLength(HTML),
    });
    expect(requests.at(-1)!.headers['user-agent']).toBe('SluiceTest/1.0 (+https://example.invalid/bot)');
  });

  it('conditional GET: a matching If-None-Match gives not-modified', async () => {
    const r = await fetchDocument(
      `${base}/page.html`,
      opts({ etag: '"v1"', lastModified: 'Wed, 21 Oct 2015 07:28:00 GMT' }),
    );
    expect(r).toEqual({ status: 'not-modified', url: `${base}/page.html` });
    expect(requests.at(-1)!.headers['if-none-match']).toBe('"v1"');
    expect(requests.at(-1)!.headers['if-modified-since']).toBe('Wed, 21 Oct 2015 07:28:00 GMT');
    const changed = await fetchDocument(`${base}/page.html`, opts({ etag: '"v0"' }));
    expect(changed.status).toBe('ok');
  });

  it('kinds: markdown served as text/plain, XHTML, no content type, declared charset', async () => {
    expect(await fetchDocument(`${base}/doc.md`, opts())).toMatchObject({
      kind: 'markdown',
      contentType: 'text/plain',
      text: '# Title\n\ntext',
    });
    expect(await fetchDocument(`${base}/page.xhtml`, opts())).toMatchObject({
      kind: 'html',
      contentType: 'application/xhtml+xml',
    });
    expect(await fetchDocument(`${base}/notes.txt`, opts())).toMatchObject({ kind: 'text', text: 'plain notes' });
    expect(await fetchDocument(`${base}/latin1`, opts())).toMatchObject({ kind: 'text', text: 'café' });
    expect(await fetchDocument(`${base}/meta-charset`, opts())).toMatchObject({
      kind: 'html',
      text: '<meta charset="windows-1252"><p>café€</p>',
    });
    expect(await fetchDocument(`${base}/utf16`, opts())).toMatchObject({ kind: 'text', text: 'hi ü' });
  });

  it('follows a redirect chain within the limit, vetting each hop', async () => {
    const r = await fetchDocument(`${base}/r/1`, opts({ maxRedirects: 3 }));
    expect(r).toMatchObject({ status: 'ok', url: `${base}/page.html`, kind: 'html' });
  });

  it('too many redirects → PermanentFetchError', async () => {
    const err = await failure('/r/1', { maxRedirects: 2 });
    expect(err).toBeInstanceOf(PermanentFetchError);
    expect(err.reason).toBe('too-many-redirects');
    expect(err.message).toContain(
      `GET ${base}/r/1: too many redirects (more than 2; the next one was to ${base}/page.html)`,
    );
  });

  it('a redirect to another private host is refused by the SSRF guard, even though the named host is trusted', async () => {
    for (const path of ['/to-other-private', '/to-localhost']) {
      const err = await failure(path);
      expect(err).toBeInstanceOf(PermanentFetchError);
      expect(err.reason).toBe('ssrf');
      expect(err.message).toMatch(/refused by the SSRF guard: .* is not a public address \(loopback\)/);
      expect(err.message).toContain(`(reached by redirect from ${base}${path})`);
    }
    expect(
      requests.some((r) => r.headers.host?.startsWith('127.0.0.2') || r.headers.host?.startsWith('localhost')),
    ).toBe(false);
  });

  it('an untrusted private host is refused before any request', async () => {
    const before = requests.length;
    const err = await failure('/page.html', { allowHosts: [] });
    expect(err).toBeInstanceOf(PermanentFetchError);
    expect(err.message).toContain(
      `GET ${base}/page.html: refused by the SSRF guard: 127.0.0.1 is not a public address (loopback)`,
    );
    expect(requests.length).toBe(before);
    expect(
      (await fetchDocument(`${base}/page.html`, opts({ allowHosts: [], allowPrivateNetworks: true }))).status,
    ).toBe('ok');
  });

  it.each([
    ['/missing', /does not exist \(HTTP 404 Not Found\); fix or remove the URL/, 404],
    ['/gone', /does not exist \(HTTP 410 Gone\)/, 410],
    ['/403', /access denied \(HTTP 403 Forbidden\)/, 403],
    ['/no-location', /redirect \(HTTP 302\) without a Location header/, 302],
  ])('%s → PermanentFetchError', async (path, message, status) => {
    const err = await failure(path);
    expect(err).toBeInstanceOf(PermanentFetchError);
    expect(err.permanent).toBe(true);
    expect(err.name).toBe('PermanentFetchError');
    expect(err.status).toBe(status);
    expect(err.message).toContain(`GET ${base}${path}: `);
    expect(err.message).toMatch(message);
  });

  it('binary content type → PermanentFetchError naming the type and the accepted ones', async () => {
    const err = await failure('/binary.bin');
    expect(err).toBeInstanceOf(PermanentFetchError);
    expect(err.message).toBe(
      `GET ${base}/binary.bin: content type application/octet-stream is not text (accepted: text/html, application/xhtml+xml, text/plain, text/markdown, text/x-markdown); only HTML, Markdown and plain-text pages can be indexed`,
    );
  });

  it('oversize body with Content-Length → refused before reading', async () => {
    const err = await failure('/big-declared');
    expect(err).toBeInstanceOf(PermanentFetchError);
    expect(err.reason).toBe('too-large');
    expect(err.message).toContain(
      `GET ${base}/big-declared: body is 5000 bytes (Content-Length), over the limit of 1000 bytes`,
    );
  });

  it('oversize body without Content-Length → aborted while streaming', async () => {
    const err = await failure('/big-chunked');
    expect(err).toBeInstanceOf(PermanentFetchError);
    expect(err.reason).toBe('too-large');
    expect(err.message).toMatch(
      new RegExp(`GET ${base}/big-chunked: body is over the limit of 1000 bytes \\(stopped reading at \\d+\\)`),
    );
  });

  it('invalid UTF-8 → PermanentFetchError', async () => {
    const err = await failure('/invalid-utf8');
    expect(err).toBeInstanceOf(PermanentFetchError);
    expect(err.reason).toBe('encoding');
    expect(err.message).toContain(`GET ${base}/invalid-utf8: body is not valid utf-8`);
    expect(err.cause).toBeDefined();
  });

  it.each([
    ['/empty', 'body is empty;'],
    ['/blank', 'body is empty (whitespace only);'],
  ])('%s → PermanentFetchError', async (path, text) => {
    const err = await failure(path);
    expect(err).toBeInstanceOf(PermanentFetchError);
    expect(err.reason).toBe('empty');
    expect(err.message).toContain(`GET ${base}${path}: ${text}`);
  });

  it('slow headers → TransientFetchError (timeout)', async () => {
    const err = await failure('/slow-headers', { timeoutMs: 300 });
    expect(err).toBeInstanceOf(TransientFetchError);
    expect(err.permanent).toBe(false);
    expect(err.reason).toBe('timeout');
    expect(err.message).toContain(`GET ${base}/slow-headers: no complete response within 300 ms (timed out)`);
  });

  it('slow body → TransientFetchError (timeout)', async () => {
    const err = await failure('/slow-body', { timeoutMs: 300 });
    expect(err).toBeInstanceOf(TransientFetchError);
    expect(err.reason).toBe('timeout');
    expect(err.message).toContain(`GET ${base}/slow-body: no complete response within 300 ms`);
  });

  it('503 → TransientFetchError with Retry-After', async () => {
    const err = await failure('/503');
    expect(err).toBeInstanceOf(TransientFetchError);
    expect((err as TransientFetchError).retryAfterMs).toBe(7000);
    expect(err.status).toBe(503);
    expect(err.message).toBe(`GET ${base}/503: server error (HTTP 503 Service Unavailable); retry after 7 s`);
  });

  it('429 → TransientFetchError', async () => {
    const err = await failure('/429');
    expect(err).toBeInstanceOf(TransientFetchError);
    expect(err.message).toContain(`GET ${base}/429: rate limited by the server (HTTP 429 Too Many Requests)`);
  });

  it('connection reset and connection refused → TransientFetchError', async () => {
    const reset = await failure('/reset');
    expect(reset).toBeInstanceOf(TransientFetchError);
    expect(reset.message).toMatch(
      new RegExp(`^GET ${base}/reset: (connection reset by the server|network error) \\(.+\\)$`),
    );

    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const refused = (await fetchDocument(`http://127.0.0.1:${deadPort}/x`, opts()).catch(
      (e: unknown) => e,
    )) as FetchError;
    expect(refused).toBeInstanceOf(TransientFetchError);
    expect(refused.message).toContain(`GET http://127.0.0.1:${deadPort}/x: connection refused (ECONNREFUSED)`);
    expect(refused.cause).toBeDefined();
  });

  it('bad URLs and schemes → PermanentFetchError', async () => {
    await expect(fetchDocument('not a url', opts())).rejects.toThrow(/GET not a url: not a valid absolute URL/);
    await expect(fetchDocument('ftp://127.0.0.1/x', opts())).rejects.toThrow(/scheme ftp is not supported/);
  });
});

describe('RobotsCache', () => {
  it('fetches robots.txt once per origin and applies it', async () => {
    robotsMode = 'rules';
    const robots = new RobotsCache();
    const o = opts();
    const before = requests.filter((r) => r.url === '/robots.txt').length;
    expect(await robots.isAllowed(`${base}/page.html`, o)).toBe(true);
    expect(await robots.isAllowed(`${base}/private/secret.html`, o)).toBe(false);
    expect(await robots.isAllowed(`${base}/page.html`, { ...o, userAgent: 'BadBot/2.0' })).toBe(false);
    expect(await robots.crawlDelayMs(`${base}/page.html`, o)).toBe(2000);
    expect(requests.filter((r) => r.url === '/robots.txt').length - before).toBe(1);

    const err = (await robots.assertAllowed(`${base}/private/secret.html`, o).catch((e: unknown) => e)) as FetchError;
    expect(err).toBeInstanceOf(PermanentFetchError);
    expect(err.reason).toBe('robots');
    expect(err.message).toBe(
      `GET ${base}/private/secret.html: disallowed by ${base}/robots.txt for user agent "SluiceTest"; Sluice respects robots.txt — ask the site owner or ingest a local copy`,
    );
  });

  it('uses the SSRF guard for robots.txt too (untrusted private host: no fetch, allow)', async () => {
    const logs: string[] = [];
    const robots = new RobotsCache({ log: (m) => logs.push(m) });
    const before = requests.length;
    expect(await robots.isAllowed(`${base}/private/x`, { ...opts(), allowHosts: [] })).toBe(true);
    expect(requests.length).toBe(before);
    expect(logs.join('\n')).toMatch(/refused by the SSRF guard/);
  });

  it('404 robots.txt → allow all; 5xx → allow all, logged, retried after errorTtlMs', async () => {
    robotsMode = '404';
    expect(await new RobotsCache().isAllowed(`${base}/private/x`, opts())).toBe(true);

    robotsMode = '500';
    let now = 1_000_000;
    const logs: string[] = [];
    const robots = new RobotsCache({ log: (m) => logs.push(m), errorTtlMs: 60_000, now: () => now });
    expect(await robots.isAllowed(`${base}/private/x`, opts())).toBe(true);
    expect(logs.join('\n')).toContain(
      `robots.txt unavailable, allowing all for now: GET ${base}/robots.txt: server error (HTTP 500`,
    );
    robotsMode = 'rules';
    expect(await robots.isAllowed(`${base}/private/x`, opts())).toBe(true); // still cached
    now += 61_000;
    expect(await robots.isAllowed(`${base}/private/x`, opts())).toBe(false); // refetched
    robotsMode = 'rules';
  });

  it('accepts a plain user agent string', async () => {
    const robots = new RobotsCache({ log: () => undefined });
    // No trusted hosts given: the guard refuses 127.0.0.1, so robots.txt is unavailable → allowed.
    expect(await robots.isAllowed(`${base}/private/x`, 'SluiceTest/1.0')).toBe(true);
  });
});
