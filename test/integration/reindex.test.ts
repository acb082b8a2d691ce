/**
 * Re-index that pays only for what changed (docs/design.md, "Cheap unchanged
 * pages", "Content-defined chunking"), against real Redis, PostgreSQL and the
 * emulator over HTTP, on a site served over loopback:
 * - a re-crawl of an unchanged site answers 304 for every page and embeds
 *   nothing, downloading no body bytes, and no page writes the collection row;
 * - a page whose validators changed but whose body did not is `unchanged`;
 * - switching CHUNKER_VERSION re-chunks every document once (validators are
 *   not sent) and embeds only the chunks whose text changed;
 * - an edit in a long section re-embeds at most 3 chunks with version 2.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingest } from '../../src/ingest/ingest.ts';
import type { Runtime } from '../../src/runtime/runtime.ts';
import { withRuntime } from '../helpers/runtime.ts';
import { isolate, requirePostgres, requireRedis, type TestIsolation } from '../helpers/services.ts';
import { serveDirectory, type StaticServer } from '../helpers/static-server.ts';

const WORDS = 'index table query planner vacuum tuple page buffer lock snapshot transaction column row heap'.split(' ');
function paragraph(i: number): string {
  const words = Array.from({ length: 40 }, (_, k) => WORDS[(i * 7 + k * 3) % WORDS.length]);
  return `Paragraph ${i} explains ${words.join(' ')}. It ends here ${i}.`;
}
function longPage(paragraphs: string[]): string {
  return `<html><head><title>Long</title></head><body><h1 id="top">Long</h1>${paragraphs.map((p) => `<p>${p}</p>`).join('')}<p><a href="short.html">short</a></p></body></html>`;
}

let iso: TestIsolation;
let site: StaticServer;
let dir: string;
const paras = Array.from({ length: 60 }, (_, i) => paragraph(i));

async function hashes(rt: Runtime): Promise<Set<string>> {
  const { rows } = await rt.db.pool.query<{ h: string }>(`SELECT DISTINCT chunk_hash AS h FROM chunks`);
  return new Set(rows.map((r) => r.h));
}

beforeAll(async () => {
  await requireRedis();
  await requirePostgres();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-reindex-'));
  fs.writeFileSync(path.join(dir, 'long.html'), longPage(paras));
  fs.writeFileSync(
    path.join(dir, 'short.html'),
    '<html><head><title>Short</title></head><body><h1 id="s">Short</h1><p>A short page about vacuum.</p><p><a href="long.html">long</a></p></body></html>',
  );
  site = await serveDirectory(dir);
  iso = isolate();
});

afterAll(async () => {
  await site?.close();
  await iso?.cleanup();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('re-index', () => {
  it('an unchanged re-crawl answers 304 for every page, downloads no body and embeds nothing', async () => {
    await withRuntime({ ...iso.env, CHUNKER_VERSION: '1' }, async (rt) => {
      const first = await ingest(rt, { collection: 'r', sources: [`${site.url}/long.html`] });
      expect(first.failed).toEqual([]);
      expect(first.documents).toBe(2);
      expect(first.pagesNotModified).toBe(0);
      expect(first.bytesDownloaded).toBe(
        fs.statSync(path.join(dir, 'long.html')).size + fs.statSync(path.join(dir, 'short.html')).size,
      );
      const again = await ingest(rt, { collection: 'r', sources: [`${site.url}/long.html`] });
      expect(again).toMatchObject({
        documents: 2,
        pagesNotModified: 2,
        pagesUnchanged: 0,
        bytesDownloaded: 0,
        tokensEmbedded: 0,
        chunks: first.chunks,
      });
      const { rows } = await rt.db.pool.query<{ v: number }>(`SELECT DISTINCT chunker_version AS v FROM documents`);
      expect(rows).toEqual([{ v: 1 }]);
      // The collection is marked used when the run starts, not by each page
      // (a shared row every page rewrote): it predates every page's touch.
      const marks = await rt.db.pool.query<{ used_first: boolean }>(
        `SELECT c.last_used_at < min(d.last_seen_at) AS used_first
         FROM collections c JOIN documents d ON d.collection_id = c.id
         WHERE c.name = 'r' AND d.last_seen_run = $1 GROUP BY c.last_used_at`,
        [again.runId],
      );
      expect(marks.rows).toEqual([{ used_first: true }]);
    });
  }, 120_000);

  it('a page with new validators but the same body is unchanged: not re-processed, nothing embedded', async () => {
    const later = new Date(Date.now() + 60_000);
    fs.utimesSync(path.join(dir, 'short.html'), later, later);
    await withRuntime({ ...iso.env, CHUNKER_VERSION: '1' }, async (rt) => {
      const s = await ingest(rt, { collection: 'r', sources: [`${site.url}/long.html`] });
      expect(s).toMatchObject({ pagesNotModified: 1, pagesUnchanged: 1, tokensEmbedded: 0 });
      expect(s.bytesDownloaded).toBe(fs.statSync(path.join(dir, 'short.html')).size);
    });
  }, 120_000);

  it('a new chunker version re-chunks every document once, embedding only chunks whose text changed', async () => {
    await withRuntime({ ...iso.env, CHUNKER_VERSION: '2' }, async (rt) => {
      const before = await hashes(rt);
      const s = await ingest(rt, { collection: 'r', sources: [`${site.url}/long.html`] });
      expect(s.failed).toEqual([]);
      expect(s.pagesNotModified).toBe(0); // no validators sent: both fetched whole
      const after = await hashes(rt);
      const changed = [...after].filter((h) => !before.has(h));
      expect(s.chunksEmbedded).toBe(changed.length);
      // The short page is one chunk in both versions: not re-embedded.
      expect(s.chunksEmbedded).toBeLessThan(s.chunks);
      const { rows } = await rt.db.pool.query<{ v: number }>(`SELECT DISTINCT chunker_version AS v FROM documents`);
      expect(rows).toEqual([{ v: 2 }]);
      // Once: the next crawl is all 304s.
      const again = await ingest(rt, { collection: 'r', sources: [`${site.url}/long.html`] });
      expect(again).toMatchObject({ pagesNotModified: 2, tokensEmbedded: 0 });
    });
  }, 120_000);

  it('a paragraph inserted in the middle of a long section re-embeds at most 3 chunks (version 2)', async () => {
    const edited = [...paras.slice(0, 30), 'An inserted paragraph about the planner and vacuum.', ...paras.slice(30)];
    fs.writeFileSync(path.join(dir, 'long.html'), longPage(edited));
    await withRuntime({ ...iso.env, CHUNKER_VERSION: '2' }, async (rt) => {
      const s = await ingest(rt, { collection: 'r', sources: [`${site.url}/long.html`] });
      expect(s.failed).toEqual([]);
      expect(s.chunks).toBeGreaterThan(5);
      expect(s.chunksEmbedded).toBeGreaterThan(0);
      expect(s.chunksEmbedded).toBeLessThanOrEqual(3);
    });
  }, 120_000);
});
