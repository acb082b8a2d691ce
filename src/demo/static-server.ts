/**
 * A static file server on loopback for tests and demos: serves a directory
 * with Content-Type, Last-Modified and ETag, answers conditional GETs with
 * 304, and counts requests (in all and by path) and body bytes so tests can
 * see what a crawl fetched.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.css': 'text/css',
  '.js': 'text/javascript',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.png': 'image/png',
  '.gif': 'image/gif',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.xml': 'application/xml',
  '.gz': 'application/gzip',
};

export interface StaticServer {
  url: string;
  port: number;
  stats: {
    requests: number;
    notModified: number;
    /** Requests by URL path (decoded), whatever the answer. */
    byPath: Map<string, number>;
    /** Body bytes sent with 200 answers. */
    bodyBytes: number;
  };
  /**
   * Answers to inject, by URL path (e.g. `/docs/a.html` → 500): a request
   * for a path in the map gets that status and a short body, whatever the
   * file. Tests fill and clear it to stage outages.
   */
  statusOverrides: Map<string, number>;
  close(): Promise<void>;
}

export async function serveDirectory(root: string, port = 0): Promise<StaticServer> {
  const stats = { requests: 0, notModified: 0, byPath: new Map<string, number>(), bodyBytes: 0 };
  const statusOverrides = new Map<string, number>();
  const server = http.createServer((req, res) => {
    stats.requests++;
    const urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    stats.byPath.set(urlPath, (stats.byPath.get(urlPath) ?? 0) + 1);
    const injected = statusOverrides.get(urlPath);
    if (injected !== undefined) {
      res.writeHead(injected, { 'content-type': 'text/plain' }).end(`injected status ${injected}`);
      return;
    }
    const file = path.join(root, path.normalize(urlPath).replace(/^(\.\.[/\\])+/, ''));
    fs.stat(file, (err, st) => {
      if (err || !st.isFile()) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
        return;
      }
      const etag = `"${createHash('sha1').update(`${st.size}-${st.mtimeMs}`).digest('hex').slice(0, 16)}"`;
      const lastModified = st.mtime.toUTCString();
      const headers = {
        'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
        etag,
        'last-modified': lastModified,
      };
      if (
        req.headers['if-none-match'] === etag ||
        (!req.headers['if-none-match'] && req.headers['if-modified-since'] === lastModified)
      ) {
        stats.notModified++;
        res.writeHead(304, headers).end();
        return;
      }
      stats.bodyBytes += st.size;
      res.writeHead(200, { ...headers, 'content-length': st.size });
      fs.createReadStream(file).pipe(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const actual = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${actual}`,
    port: actual,
    stats,
    statusOverrides,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** PostgreSQL's HTML manual (Debian package postgresql-doc-15). */
export const PG_MANUAL_DIR = '/usr/share/doc/postgresql-doc-15/html';

export function requireManual(): void {
  if (!fs.existsSync(path.join(PG_MANUAL_DIR, 'index.html'))) {
    throw new Error(
      `PostgreSQL's HTML manual is missing at ${PG_MANUAL_DIR}: install it with  apt-get install -y postgresql-doc-15`,
    );
  }
}

// Run as a script: serve a directory until killed.
if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = process.argv[2] ?? PG_MANUAL_DIR;
  const s = await serveDirectory(dir, Number(process.argv[3] ?? 0));
  process.stdout.write(`${s.url}\n`);
}
