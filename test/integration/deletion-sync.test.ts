/**
 * Deletion sync against real services: a copy of 150 pages of the PostgreSQL
 * manual served on loopback, real Redis and PostgreSQL + pgvector, the
 * emulator over HTTP. Pages vanish from the copy (404) or answer 500, and
 * runs are cut by the page and depth limits; the collection loses exactly
 * the pages the source lost, and never more than an outage allows.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syncDeletions } from '../../src/ingest/deletion-sync.ts';
import { ingest, type IngestRequest } from '../../src/ingest/ingest.ts';
import { documentsDeletedTotal } from '../../src/metrics/metrics.ts';
import type { TickResult } from '../../src/queue/contracts.ts';
import { addSchedule, runScheduleNow } from '../../src/schedule/schedules.ts';
import { search } from '../../src/search/search.ts';
import { openTestRuntime, type TestRuntime } from '../helpers/runtime.ts';
import { tickOutcome } from '../helpers/wait.ts';
import { PG_MANUAL_DIR, requireManual, serveDirectory, type StaticServer } from '../helpers/static-server.ts';

const PAGES = 150;
const COLLECTION = 'pgdocs';

let t: TestRuntime;
let site: StaticServer;
let siteDir: string;
/** The copied pages, in the order a breadth-first walk from index.html found them. */
let pages: string[];
let start: string;

/** Relative links to other pages of the manual, by file name. */
function pageLinks(html: string): string[] {
  return [...html.matchAll(/<a\b[^>]*?\shref="([^"#?:/]+\.html)(?:#[^"]*)?"/g)].map((m) => m[1]!);
}

/**
 * Copies the first `count` pages a breadth-first walk from index.html finds,
 * with links to pages outside the copy removed, so the copy is a closed site
 * every page of which is reachable from index.html.
 */
function copySubset(dir: string, count: number): string[] {
  const chosen: string[] = [];
  const seen = new Set(['index.html']);
  const queue = ['index.html'];
  while (queue.length && chosen.length < count) {
    const page = queue.shift()!;
    chosen.push(page);
    for (const next of pageLinks(fs.readFileSync(path.join(PG_MANUAL_DIR, page), 'utf8'))) {
      if (!seen.has(next) && fs.existsSync(path.join(PG_MANUAL_DIR, next))) {
        seen.add(next);
        queue.push(next);
      }
    }
  }
  const keep = new Set(chosen);
  for (const page of chosen) {
    const html = fs.readFileSync(path.join(PG_MANUAL_DIR, page), 'utf8').replace(/<a\b[^>]*>/g, (tag) =>
      tag.replace(/\shref="([^"]*)"/, (attr, href: string) => {
        const file = href.split('#')[0]!;
        return file === '' || /^[a-z]+:/i.test(href) || keep.has(file) ? attr : '';
      }),
    );
    fs.writeFileSync(path.join(dir, page), html);
  }
  return chosen;
}

const uriOf = (page: string) => `${site.url}/docs/${page}`;

async function rows<T>(sql: string, params: unknown[] = []): Promise<T[]> {
  return (await t.rt.db.pool.query(sql, params)).rows as T[];
}

async function documentUris(): Promise<string[]> {
  const r = await rows<{ uri: string }>(
    `SELECT d.uri FROM documents d JOIN collections c ON c.id = d.collection_id WHERE c.name = $1 ORDER BY d.uri`,
    [COLLECTION],
  );
  return r.map((x) => x.uri);
}

/** Pages reachable from the start page over the links the crawler stored, never entering `gone`. */
async function reachableWithout(gone: Set<string>): Promise<Set<string>> {
  const graph = new Map(
    (
      await rows<{ uri: string; links: string[] }>(
        `SELECT d.uri, d.links FROM documents d JOIN collections c ON c.id = d.collection_id WHERE c.name = $1`,
        [COLLECTION],
      )
    ).map((r) => [r.uri, r.links]),
  );
  const reached = new Set([start]);
  const queue = [start];
  while (queue.length) {
    for (const next of graph.get(queue.shift()!) ?? []) {
      if (!reached.has(next) && !gone.has(next) && graph.has(next)) {
        reached.add(next);
        queue.push(next);
      }
    }
  }
  return reached;
}

/** Picks `n` pages (never the start page) whose removal leaves every other page reachable. */
async function removablePages(n: number, present: string[]): Promise<string[]> {
  const picked = new Set<string>();
  for (const uri of [...present].reverse()) {
    if (picked.size >= n) break;
    if (uri === start) continue;
    const trial = new Set([...picked, uri]);
    if ((await reachableWithout(trial)).size === present.length - trial.size) picked.add(uri);
  }
  return [...picked].sort();
}

/** `sluice_documents_deleted_total{reason="deletion_sync"}` of this process (the runtime's workers run here). */
async function deletedBySync(): Promise<number> {
  return (await documentsDeletedTotal.get()).values.find((v) => v.labels.reason === 'deletion_sync')!.value;
}

function deleteFiles(uris: string[]): void {
  for (const uri of uris) fs.rmSync(path.join(siteDir, new URL(uri).pathname));
}

const request = (over: Partial<IngestRequest> = {}): IngestRequest => ({
  collection: COLLECTION,
  sources: [start],
  ...over,
});

beforeAll(async () => {
  requireManual();
  siteDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-deletion-'));
  fs.mkdirSync(path.join(siteDir, 'docs'));
  pages = copySubset(path.join(siteDir, 'docs'), PAGES);
  site = await serveDirectory(siteDir);
  start = uriOf('index.html');
  // Few, fast retries: a page answering 500 uses its attempts quickly.
  t = await openTestRuntime({ JOB_ATTEMPTS: '2', JOB_BACKOFF_MS: '50' });
}, 120_000);

afterAll(async () => {
  await t?.close();
  await site?.close();
  if (siteDir) fs.rmSync(siteDir, { recursive: true, force: true });
});

describe('deletion sync over a copy of the PostgreSQL manual', () => {
  let removed: string[] = [];

  it('a first run indexes every page; with nothing to delete it holds nothing', async () => {
    expect(pages).toHaveLength(PAGES);
    const s = await ingest(t.rt, request({ deleteMissing: true }));
    expect(s.failed).toEqual([]);
    expect(s.documents).toBe(PAGES);
    expect(s).toMatchObject({ documentsDeleted: 0, deletionHeld: null, pagesSkipped: 0 });
    expect(await documentUris()).toEqual(pages.map(uriOf).sort());
    const seen = await rows<{ n: string }>(
      `SELECT count(*) AS n FROM documents WHERE last_seen_run = $1 AND last_seen_at IS NOT NULL`,
      [s.runId],
    );
    expect(Number(seen[0]!.n)).toBe(PAGES);
  }, 120_000);

  it('deletion sync not asked for: pages gone at the source stay', async () => {
    removed = await removablePages(Math.round(PAGES * 0.02), await documentUris());
    expect(removed).toHaveLength(3);
    deleteFiles(removed);
    // Three other pages get a new mtime: a new ETag, fetched again, unchanged by content hash — still reached.
    const later = new Date(Date.now() + 5000);
    for (const page of pages.slice(1, 4)) fs.utimesSync(path.join(siteDir, 'docs', page), later, later);
    const s = await ingest(t.rt, request());
    expect(s).toMatchObject({ documentsDeleted: 0, deletionHeld: null });
    expect(s.failed.map((f) => f.source).sort()).toEqual(removed);
    expect(s.failed.every((f) => /404/.test(f.error))).toBe(true);
    expect(await documentUris()).toHaveLength(PAGES);
  }, 120_000);

  it('removes exactly the pages that answer 404, with their chunks, into the ledger; search forgets them', async () => {
    const [chunk] = await rows<{ text: string }>(
      `SELECT c.text FROM chunks c JOIN documents d ON d.id = c.document_id WHERE d.uri = $1 ORDER BY c.token_count DESC LIMIT 1`,
      [removed[0]],
    );
    const query = chunk!.text.slice(0, 400);
    const before = await search(t.rt, query, { collection: COLLECTION, k: 10 });
    expect(before.some((h) => h.url.startsWith(removed[0]!))).toBe(true);
    const embeddingsBefore = Number((await rows<{ n: string }>(`SELECT count(*) AS n FROM embeddings`))[0]!.n);
    const metricBefore = await deletedBySync();

    const s = await ingest(t.rt, request({ deleteMissing: true }));
    expect(s).toMatchObject({ documentsDeleted: 3, deletionHeld: null });
    const remaining = await documentUris();
    expect(remaining).toEqual(
      pages
        .map(uriOf)
        .filter((u) => !removed.includes(u))
        .sort(),
    );
    const orphanChunks = await rows<{ n: string }>(
      `SELECT count(*) AS n FROM chunks c JOIN documents d ON d.id = c.document_id WHERE d.uri = ANY($1)`,
      [removed],
    );
    expect(Number(orphanChunks[0]!.n)).toBe(0);
    const after = await search(t.rt, query, { collection: COLLECTION, k: 10 });
    expect(after.length).toBe(10);
    expect(after.filter((h) => removed.some((u) => h.url.startsWith(u)))).toEqual([]);
    // Embeddings are content-addressed and shared: TTL cleanup owns them, not deletion sync.
    expect(Number((await rows<{ n: string }>(`SELECT count(*) AS n FROM embeddings`))[0]!.n)).toBe(embeddingsBefore);
    const ledger = await rows<{
      collection: string;
      uri: string;
      reason: string;
      run_id: string;
      content_hash: string;
    }>(`SELECT collection, uri, reason, run_id, content_hash FROM document_removals ORDER BY uri`);
    expect(ledger.map((r) => r.uri)).toEqual(removed);
    for (const r of ledger) {
      expect(r).toMatchObject({ collection: COLLECTION, reason: 'deletion_sync', run_id: s.runId });
      expect(r.content_hash).toMatch(/^[0-9a-f]{64}$/);
    }
    const metricAfter = await deletedBySync();
    expect(metricAfter - metricBefore).toBe(3);

    // The same run synced again (a resumed ingest) converges: nothing more to delete, no duplicate ledger rows.
    const again = await syncDeletions(t.rt, { runId: s.runId, collection: COLLECTION });
    expect(again).toEqual({ documentsDeleted: 0, deletionHeld: null });
    expect(await rows(`SELECT 1 FROM document_removals`)).toHaveLength(3);
  }, 120_000);

  it('holds everything while half the pages answer 500 (transient failures)', async () => {
    const present = await documentUris();
    const failing = present.filter((u, i) => u !== start && i % 2 === 0);
    for (const u of failing) site.statusOverrides.set(new URL(u).pathname, 500);
    try {
      const s = await ingest(t.rt, request({ deleteMissing: true, allowMassDelete: true }));
      expect(s.documentsDeleted).toBe(0);
      expect(s.deletionHeld).toMatchObject({ reason: 'transient_failures', scopeDocuments: present.length });
      expect(s.deletionHeld!.candidates).toBeGreaterThanOrEqual(failing.length);
      expect(s.deletionHeld!.message).toMatch(/does not override/);
      expect(s.failed.length).toBeGreaterThanOrEqual(failing.length);
      expect(await documentUris()).toEqual(present);
    } finally {
      site.statusOverrides.clear();
    }
  }, 120_000);

  it('holds a run cut by the page limit (truncated)', async () => {
    const present = await documentUris();
    const s = await ingest(t.rt, request({ deleteMissing: true, maxPages: 50 }));
    expect(s.pagesSkipped).toBeGreaterThan(0);
    expect(s.documentsDeleted).toBe(0);
    // 50 pages claimed, some of them links to the pages removed earlier (404): at least the rest is unreached.
    expect(s.deletionHeld).toMatchObject({ reason: 'truncated', scopeDocuments: present.length });
    expect(s.deletionHeld!.candidates).toBeGreaterThanOrEqual(present.length - 50);
    expect(s.deletionHeld!.message).toMatch(/page limit/);
    expect(await documentUris()).toEqual(present);
  }, 120_000);

  it('holds a run cut by the depth limit (truncated)', async () => {
    const present = await documentUris();
    const s = await ingest(t.rt, request({ deleteMissing: true, maxDepth: 1 }));
    expect(s.pagesSkipped).toBe(0);
    expect(s.documentsDeleted).toBe(0);
    expect(s.deletionHeld).toMatchObject({ reason: 'truncated' });
    expect(s.deletionHeld!.candidates).toBeGreaterThan(0);
    expect(s.deletionHeld!.message).toMatch(/depth limit/);
    expect(await documentUris()).toEqual(present);
  }, 120_000);

  it('holds a mass delete (half the pages vanished) unless allowed, then deletes exactly the unreached', async () => {
    const present = await documentUris();
    const vanished = present.filter((u, i) => u !== start && i % 2 === 1);
    const reachable = await reachableWithout(new Set(vanished));
    deleteFiles(vanished);
    const held = await ingest(t.rt, request({ deleteMissing: true }));
    expect(held.documentsDeleted).toBe(0);
    expect(held.deletionHeld).toMatchObject({
      reason: 'mass_delete',
      candidates: present.length - reachable.size,
      scopeDocuments: present.length,
    });
    expect(held.deletionHeld!.message).toMatch(/--allow-mass-delete/);
    expect(await documentUris()).toEqual(present);

    const allowed = await ingest(t.rt, request({ deleteMissing: true, allowMassDelete: true }));
    expect(allowed).toMatchObject({ documentsDeleted: present.length - reachable.size, deletionHeld: null });
    expect(await documentUris()).toEqual([...reachable].sort());
    console.log(
      `deletion sync: ${PAGES} pages; 2%: ${removed.length} removed → 3 deleted; ` +
        `50%: ${vanished.length} files removed, ${present.length - reachable.size} unreached → held (mass_delete), ` +
        `then ${allowed.documentsDeleted} deleted with allowMassDelete`,
    );
  }, 120_000);
});

/** Waits for a schedule tick to end; what it returned. */
async function tickResult(jobId: string): Promise<TickResult> {
  const r = await tickOutcome(t.rt.queues.schedule, jobId, 120_000);
  if (!r.result) throw new Error(`tick ${jobId} ${r.state}: ${r.error}`);
  return r.result;
}

describe('a scheduled run syncs deletions', () => {
  it('pages removed from the copy (2%, links to them left) are gone from the collection and search after one tick', async () => {
    // The whole copy again (the tests above removed half of it), indexed by a first tick.
    pages = copySubset(path.join(siteDir, 'docs'), PAGES);
    // A yearly pattern: the test ticks by hand, through the same processor a timed tick uses.
    await addSchedule(t.rt, { name: 'pgdocs-nightly', sources: [start], collection: COLLECTION, cron: '0 3 1 1 *' });
    const first = await tickResult(await runScheduleNow(t.rt, 'pgdocs-nightly'));
    expect(first).toMatchObject({ outcome: 'started', runOutcome: 'succeeded', documents: PAGES, documentsDeleted: 0 });
    expect(await documentUris()).toHaveLength(PAGES);

    const gone = await removablePages(Math.round(PAGES * 0.02), await documentUris());
    const [chunk] = await rows<{ text: string }>(
      `SELECT c.text FROM chunks c JOIN documents d ON d.id = c.document_id WHERE d.uri = $1 ORDER BY c.token_count DESC LIMIT 1`,
      [gone[0]],
    );
    const query = chunk!.text.slice(0, 400);
    expect((await search(t.rt, query, { collection: COLLECTION, k: 10 })).some((h) => h.url.startsWith(gone[0]!))).toBe(
      true,
    );
    deleteFiles(gone);

    const second = await tickResult(await runScheduleNow(t.rt, 'pgdocs-nightly', Date.now() + 1));
    expect(second).toMatchObject({ outcome: 'started', documentsDeleted: gone.length });
    expect(await documentUris()).toEqual(
      pages
        .map(uriOf)
        .filter((u) => !gone.includes(u))
        .sort(),
    );
    const hits = await search(t.rt, query, { collection: COLLECTION, k: 10 });
    expect(hits.filter((h) => gone.some((u) => h.url.startsWith(u)))).toEqual([]);
    console.log(
      `scheduled run: ${PAGES} pages, ${gone.length} removed at the source → ${second.documentsDeleted} deleted`,
    );
  }, 240_000);
});
