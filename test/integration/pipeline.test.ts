/**
 * The main job against real services: crawl → chunk → embed → pgvector,
 * with bad input, dedup across runs and collections, and search.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingest } from '../../src/ingest/ingest.ts';
import { search } from '../../src/search/search.ts';
import { exportCollection } from '../../src/export/export.ts';
import { openTestRuntime, type TestRuntime } from '../helpers/runtime.ts';
import { serveDirectory, type StaticServer } from '../helpers/static-server.ts';

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/site');

let t: TestRuntime;
let site: StaticServer;
let siteDir: string;

beforeAll(async () => {
  siteDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-site-'));
  // The site lives under /docs/; a page outside that scope must not be crawled.
  fs.cpSync(FIXTURES, path.join(siteDir, 'docs'), { recursive: true });
  fs.writeFileSync(path.join(siteDir, 'outside.html'), '<html><body><p>outside the scope</p></body></html>');
  // A page over the 5 MB default byte limit.
  fs.writeFileSync(
    path.join(siteDir, 'docs', 'huge.html'),
    `<html><body><p>${'x '.repeat(3_000_000)}</p></body></html>`,
  );
  site = await serveDirectory(siteDir);
  // Few, fast retries: an unreachable host is retried before it counts as failed.
  t = await openTestRuntime({ JOB_ATTEMPTS: '3', JOB_BACKOFF_MS: '100' });
});

afterAll(async () => {
  await t?.close();
  await site?.close();
  fs.rmSync(siteDir, { recursive: true, force: true });
});

async function count(sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await t.rt.db.pool.query<{ n: string }>(sql, params);
  return Number(rows[0]!.n);
}

describe('ingest of a small site', () => {
  it('crawls in-scope links, chunks, embeds and reports', async () => {
    const s = await ingest(t.rt, { collection: 'widgets', sources: [`${site.url}/docs/index.html`] });
    expect(s.failed).toEqual([]);
    expect(s.documents).toBe(3); // index, install, configure; the external and out-of-scope links are not followed
    expect(s.chunks).toBeGreaterThanOrEqual(3);
    expect(s.chunksEmbedded).toBeGreaterThan(0);
    expect(s.tokensEmbedded).toBeGreaterThan(0);
    expect(s.embeddingsFrom).toMatch(/^emulator/);
    expect(await count(`SELECT count(*) AS n FROM embeddings`)).toBe(s.chunksEmbedded);
  });

  it('keeps real anchors: every exported fragment is an id in its page', async () => {
    const chunks = [];
    for await (const c of exportCollection(t.rt, 'widgets')) chunks.push(c);
    expect(chunks.length).toBeGreaterThan(0);
    const withFragment = chunks.filter((c) => c.url.includes('#'));
    expect(withFragment.length).toBeGreaterThan(0);
    for (const c of withFragment) {
      const [page, fragment] = c.url.split('#') as [string, string];
      const html = fs.readFileSync(path.join(siteDir, new URL(page).pathname), 'utf8');
      expect(html.includes(`id="${fragment}"`) || html.includes(`name="${fragment}"`), `${c.url}`).toBe(true);
    }
  });

  it('finds the page about installation', async () => {
    const hits = await search(t.rt, 'install widgets with make install', { collection: 'widgets', k: 3 });
    expect(hits[0]!.url).toContain('install.html');
    expect(hits[0]!.score).toBeGreaterThan(hits[hits.length - 1]!.score - 1e-9);
  });

  it('embeds nothing the second time, nor for a second collection', async () => {
    const again = await ingest(t.rt, { collection: 'widgets', sources: [`${site.url}/docs/index.html`] });
    expect(again).toMatchObject({ documents: 3, tokensEmbedded: 0, chunksEmbedded: 0, failed: [] });
    expect(again.tokensDeduplicated).toBeGreaterThan(0);
    const other = await ingest(t.rt, { collection: 'widgets-copy', sources: [`${site.url}/docs/index.html`] });
    expect(other).toMatchObject({ documents: 3, tokensEmbedded: 0, failed: [] });
    expect(other.chunks).toBe(again.chunks);
  });
});

describe('bad input', () => {
  it('fails each bad source with a reason naming it, and completes the rest', async () => {
    const sources = [
      `${site.url}/docs/configure.html`,
      'http://127.0.0.1:9/unreachable.html',
      `${site.url}/docs/missing.html`,
      `${site.url}/docs/blob.bin`,
      `${site.url}/docs/huge.html`,
      `${site.url}/docs/empty.html`,
      `${site.url}/docs/latin1.txt`,
      '{"id": "broken", "text": ',
      '{"text": "an inline document without id"}',
      'file:///no/such/path',
    ];
    const s = await ingest(t.rt, { collection: 'bad', sources, maxDepth: 0 });
    expect(s.documents).toBe(1);
    const reasons = new Map(s.failed.map((f) => [f.source, f.error]));
    expect(s.failed).toHaveLength(sources.length - 1);
    expect(reasons.get('http://127.0.0.1:9/unreachable.html')).toMatch(/unreachable\.html/);
    expect(reasons.get(`${site.url}/docs/missing.html`)).toMatch(/404/);
    expect(reasons.get(`${site.url}/docs/blob.bin`)).toMatch(/application\/octet-stream/);
    expect(reasons.get(`${site.url}/docs/huge.html`)).toMatch(/byte|large|limit/i);
    expect(reasons.get(`${site.url}/docs/empty.html`)).toMatch(/empty|no text/i);
    expect(reasons.get(`${site.url}/docs/latin1.txt`)).toMatch(/UTF-8/i);
    expect([...reasons.values()].some((r) => /not valid JSON/.test(r))).toBe(true);
    expect([...reasons.values()].some((r) => /id/.test(r) && /inline document/.test(r))).toBe(true);
    expect([...reasons.values()].some((r) => /no such file or directory/.test(r))).toBe(true);
    // Each failed job keeps its reason in BullMQ's failed set.
    const failedJobs = await t.rt.queues.crawl.getFailed();
    expect(failedJobs.length).toBeGreaterThanOrEqual(sources.length - 1);
    expect(failedJobs.every((j) => j.failedReason.length > 0)).toBe(true);
  }, 120_000);
});
