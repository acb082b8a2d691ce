/**
 * TTL cleanup against the emulator over HTTP, real Redis and real
 * PostgreSQL + pgvector (docs/design.md, "TTL cleanup"). Time moves, never
 * rows: Sluice's clock is passed to the cleanup as `now`, OpenAI's is moved
 * with the emulator's `POST /_emulator/clock`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NotFoundError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '@sluice/openai-emulator';
import { type CleanupReport, ensureCleanupScheduler, runCleanup } from '../../src/cleanup/cleanup.ts';
import { ingest } from '../../src/ingest/ingest.ts';
import { registry } from '../../src/metrics/metrics.ts';
import { getStatus } from '../../src/runs/status.ts';
import { search } from '../../src/search/search.ts';
import { sync } from '../../src/sync/sync.ts';
import { runCli } from '../helpers/cli.ts';
import { openTestRuntime, type TestRuntime } from '../helpers/runtime.ts';

const DAY = 24 * 3600 * 1000;

let emu: RunningEmulator;
let t: TestRuntime;
let dir: string;
let env: Record<string, string>;

beforeAll(async () => {
  emu = await startEmulator({});
  const extra = { OPENAI_BASE_URL: emu.url, OPENAI_API_KEY: 'test-key', OPENAI_UPLOAD_RPM: '100000' };
  t = await openTestRuntime(extra);
  env = { ...t.iso.env, ...extra };
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-cleanup-'));
});

afterAll(async () => {
  await t?.close();
  await emu?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Moves OpenAI's clock (the emulator's admin endpoint, over HTTP) to `to`. */
async function moveOpenAIClockTo(to: Date): Promise<void> {
  const admin = emu.url.replace(/\/v1$/, '');
  const { nowMs } = (await (await fetch(`${admin}/_emulator/clock`)).json()) as { nowMs: number };
  const r = await fetch(`${admin}/_emulator/clock`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ advanceMs: Math.max(0, to.getTime() - nowMs) }),
  });
  expect(r.status).toBe(200);
}

async function configureEmulator(patch: Record<string, unknown>): Promise<void> {
  const admin = emu.url.replace(/\/v1$/, '');
  const r = await fetch(`${admin}/_emulator/config`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(patch),
  });
  expect(r.status, await r.text()).toBe(200);
}

function project(name: string, files: Record<string, string>): string {
  const p = path.join(dir, name);
  fs.mkdirSync(p, { recursive: true });
  for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(p, f), text);
  return p;
}

async function gone(fn: () => Promise<unknown>): Promise<boolean> {
  try {
    await fn();
    return false;
  } catch (err) {
    if (err instanceof NotFoundError) return true;
    throw err;
  }
}

async function metric(name: string, labels: Record<string, string>): Promise<number> {
  const values = (await registry.getSingleMetric(name)!.get()).values;
  return values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value ?? 0;
}

const doc = (id: string, text: string) => JSON.stringify({ id, markdown: `# ${id}\n\n${text}\n` });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What a report deletes, comparable between a dry and a real run. */
function deletions(r: CleanupReport) {
  return {
    vectorStores: r.vectorStores,
    files: r.files,
    documents: r.documents,
    chunks: r.chunks,
    embeddings: r.embeddings,
    freedBytes: r.freedBytes,
  };
}

describe('TTL cleanup', () => {
  it('past the TTL deletes unused stores, files, documents and embeddings; keeps what was used; dry run = real run; the next sync recreates', async () => {
    // Used before the boundary, never again: all of it expires …
    const old = project('old', { 'a.md': '# A\nonly in the old set\n', 'shared.md': '# Shared\nin both sets\n' });
    const oldSync = await sync(t.rt, { collection: 'old', sources: [old] });
    await ingest(t.rt, {
      collection: 'old',
      sources: [doc('o1', 'Text only the old collection has, alpha.'), doc('o2', 'A sentence both collections share.')],
    });
    // … except a collection that is searched after the boundary.
    await ingest(t.rt, { collection: 'searched', sources: [doc('s1', 'The searched collection keeps this page.')] });
    const files0 = await t.rt.db.pool.query<{ content_hash: string; openai_file_id: string; filename: string }>(
      `SELECT f.content_hash, f.openai_file_id, ff.filename FROM files f JOIN fileset_files ff ON ff.content_hash = f.content_hash
       WHERE ff.fileset_hash = $1 ORDER BY ff.filename`,
      [oldSync.filesetHash],
    );
    const onlyOld = files0.rows.find((r) => r.filename === 'a.md')!;
    const shared = files0.rows.find((r) => r.filename === 'shared.md')!;

    await sleep(50);
    const boundary = new Date();
    // The emulator's clock runs on from boundary + TTL while the cleanups and checks below take their time:
    // the fresh side is used 3 s after the boundary so that its store outlives them on a loaded machine (it
    // expires at OpenAI TTL after its last use, on that clock).
    await sleep(3000);

    // Used after the boundary: within the TTL when the clock reads boundary + TTL.
    const fresh = project('fresh', { 'shared.md': '# Shared\nin both sets\n', 'b.md': '# B\nonly in the new set\n' });
    const freshSync = await sync(t.rt, { collection: 'fresh', sources: [fresh] });
    await ingest(t.rt, { collection: 'fresh', sources: [doc('f1', 'A sentence both collections share.')] });
    expect(await search(t.rt, 'searched collection', { collection: 'searched' })).not.toHaveLength(0);

    const now = new Date(boundary.getTime() + t.rt.config.ttlDays * DAY);
    await moveOpenAIClockTo(now);
    const before = {
      stores: await metric('sluice_cleanup_deleted_total', { resource: 'vector_store' }),
      docs: await metric('sluice_documents_deleted_total', { reason: 'ttl' }),
    };

    const dry = await runCleanup(t.rt.context, { dryRun: true, now });
    const real = await runCleanup(t.rt.context, { now });
    expect(real.failed).toEqual([]);
    expect(deletions(dry)).toEqual(deletions(real));
    expect(real.vectorStores).toEqual([{ filesetHash: oldSync.filesetHash, vectorStoreId: oldSync.vectorStoreId }]);
    expect(real.files.map((f) => f.openaiFileId)).toEqual([onlyOld.openai_file_id]);
    expect(real.documents).toEqual([
      { collection: 'old', uri: expect.stringContaining('o1') },
      { collection: 'old', uri: expect.stringContaining('o2') },
    ]);
    expect(real.chunks).toBeGreaterThanOrEqual(2);
    // o1's chunk had no other reference; o2's text is shared with the fresh collection.
    expect(real.embeddings).toBe(1);
    console.log(
      `cleanup at boundary + ${t.rt.config.ttlDays} d: ${real.vectorStores.length} store, ${real.files.length} file (${real.freedBytes.file} B), ${real.documents.length} documents, ${real.chunks} chunks, ${real.embeddings} embedding (${real.freedBytes.embedding} B) in ${real.durationSeconds} s`,
    );

    // At the emulator.
    expect(await gone(() => t.rt.openai.vectorStores.retrieve(oldSync.vectorStoreId!))).toBe(true);
    expect(await gone(() => t.rt.openai.files.retrieve(onlyOld.openai_file_id))).toBe(true);
    expect((await t.rt.openai.vectorStores.retrieve(freshSync.vectorStoreId!)).status).toBe('completed');
    expect((await t.rt.openai.files.retrieve(shared.openai_file_id)).id).toBe(shared.openai_file_id);
    // In Postgres.
    const q = async (sql: string, args: unknown[] = []) => (await t.rt.db.pool.query(sql, args)).rows;
    expect(
      await q(`SELECT status, vector_store_id FROM filesets WHERE fileset_hash = $1`, [oldSync.filesetHash]),
    ).toEqual([{ status: 'deleted', vector_store_id: null }]);
    expect(await q(`SELECT status FROM files WHERE content_hash = $1`, [onlyOld.content_hash])).toEqual([
      { status: 'deleted' },
    ]);
    expect(await q(`SELECT 1 FROM file_blobs WHERE content_hash = $1`, [onlyOld.content_hash])).toHaveLength(0);
    expect(await q(`SELECT status FROM files WHERE content_hash = $1`, [shared.content_hash])).toEqual([
      { status: 'uploaded' },
    ]);
    const docs = await q(
      `SELECT c.name, count(d.id)::int AS n FROM collections c LEFT JOIN documents d ON d.collection_id = c.id GROUP BY c.name ORDER BY c.name`,
    );
    expect(docs).toEqual([
      { name: 'fresh', n: 1 },
      { name: 'old', n: 0 },
      { name: 'searched', n: 1 },
    ]);
    expect(
      await q(
        `SELECT count(*)::int AS n FROM embeddings e WHERE NOT EXISTS (SELECT 1 FROM chunks c WHERE c.chunk_hash = e.chunk_hash)`,
      ),
    ).toEqual([{ n: 0 }]);
    expect(await q(`SELECT reason FROM document_removals WHERE collection = 'old'`)).toEqual([
      { reason: 'ttl' },
      { reason: 'ttl' },
    ]);
    expect(await metric('sluice_cleanup_deleted_total', { resource: 'vector_store' })).toBe(before.stores + 1);
    expect(await metric('sluice_documents_deleted_total', { reason: 'ttl' })).toBe(before.docs + 2);
    // A second run finds nothing left.
    expect(deletions(await runCleanup(t.rt.context, { now }))).toMatchObject({
      vectorStores: [],
      files: [],
      documents: [],
    });

    // The next sync of the old fileset creates a new store and uploads only the deleted file again.
    const again = await sync(t.rt, { collection: 'old', sources: [old] });
    expect(again).toMatchObject({
      recreated: true,
      reused: false,
      status: 'completed',
      filesUploaded: 1,
      filesReused: 1,
    });
    expect(again.vectorStoreId).not.toBe(oldSync.vectorStoreId);
    expect((await t.rt.openai.vectorStores.retrieve(again.vectorStoreId!)).status).toBe('completed');
  });

  it('a deletion OpenAI keeps refusing stays visible in status and metrics, and succeeds on the run after', async () => {
    const p = project('refused', { 'r.md': '# R\nrefused deletion\n' });
    const s = await sync(t.rt, { collection: 'refused', sources: [p] });
    await sleep(20);
    const now = new Date(Date.now() + t.rt.config.ttlDays * DAY);
    await configureEmulator({
      errorRate: 1,
      faultRoutes: ['DELETE /v1/vector_stores/{vector_store_id}', 'DELETE /v1/files/{file_id}'],
    });
    const failedBefore = await metric('sluice_cleanup_failed_total', { resource: 'vector_store' });
    const first = await runCleanup(t.rt.context, { now });
    expect(first.failed).toContainEqual(expect.objectContaining({ resource: 'vector_store', id: s.vectorStoreId }));
    expect(first.vectorStores.map((v) => v.vectorStoreId)).not.toContain(s.vectorStoreId);
    expect(await metric('sluice_cleanup_failed_total', { resource: 'vector_store' })).toBeGreaterThan(failedBefore);
    // Still there at OpenAI, live again in the registry (a sync may reuse it), visible in `sluice status`.
    expect((await t.rt.openai.vectorStores.retrieve(s.vectorStoreId!)).id).toBe(s.vectorStoreId);
    const cli = await runCli(['status', '--json'], env);
    expect(cli.code, cli.stderr).toBe(0);
    const status = JSON.parse(cli.stdout);
    expect(status.cleanup.failedDeletions).toContainEqual(
      expect.objectContaining({ resource: 'vector_store', id: s.vectorStoreId, attempts: 1 }),
    );
    expect(status.storage.openai.vectorStores).toBeGreaterThanOrEqual(1);
    const text = await runCli(['status'], env);
    expect(text.stdout).toContain(`cleanup could not delete vector_store ${s.vectorStoreId}`);

    await configureEmulator({ errorRate: 0, faultRoutes: null });
    const second = await runCleanup(t.rt.context, { now });
    expect(second.failed).toEqual([]);
    expect(second.vectorStores.map((v) => v.vectorStoreId)).toContain(s.vectorStoreId);
    expect(await gone(() => t.rt.openai.vectorStores.retrieve(s.vectorStoreId!))).toBe(true);
    expect((await getStatus(t.rt)).cleanup.failedDeletions).toEqual([]);
  });

  it('a sync takes back a store and a file whose deleting cleanup died, and recreates what it had deleted', async () => {
    const p = project('dead', { 'd1.md': '# D1\ndead cleanup one\n', 'd2.md': '# D2\ndead cleanup two\n' });
    const s = await sync(t.rt, { collection: 'dead', sources: [p] });
    const { rows } = await t.rt.db.pool.query<{ content_hash: string; openai_file_id: string }>(
      `SELECT f.content_hash, f.openai_file_id FROM files f JOIN fileset_files ff ON ff.content_hash = f.content_hash
       WHERE ff.fileset_hash = $1 AND ff.filename = 'd1.md'`,
      [s.filesetHash],
    );
    const file = rows[0]!;
    // A cleanup claimed both 11 minutes ago, deleted them at OpenAI and died before recording it.
    await t.rt.db.pool.query(
      `UPDATE filesets SET status = 'deleting', claimed_by = 'cleanup-dead', claimed_at = now() - interval '11 minutes' WHERE fileset_hash = $1`,
      [s.filesetHash],
    );
    await t.rt.db.pool.query(
      `UPDATE files SET status = 'deleting', claimed_by = 'cleanup-dead', claimed_at = now() - interval '11 minutes' WHERE content_hash = $1`,
      [file.content_hash],
    );
    await t.rt.openai.vectorStores.delete(s.vectorStoreId!);
    await t.rt.openai.files.delete(file.openai_file_id);
    const again = await sync(t.rt, { collection: 'dead', sources: [p] });
    expect(again).toMatchObject({ recreated: true, status: 'completed', failedFiles: [], filesReuploaded: 1 });
    expect(again.vectorStoreId).not.toBe(s.vectorStoreId);
    expect((await t.rt.openai.vectorStores.retrieve(again.vectorStoreId!)).file_counts.completed).toBe(2);
  });

  it('runs as a cleanup job and on a job scheduler upserted idempotently; `sluice cleanup --dry-run --json` prints the report', async () => {
    await ensureCleanupScheduler(t.rt);
    await ensureCleanupScheduler(t.rt);
    const schedulers = await t.rt.queues.cleanup.getJobSchedulers();
    expect(schedulers.map((s) => [s.key, s.pattern])).toEqual([['cleanup-ttl', t.rt.config.cleanupCron]]);
    await t.rt.queues.cleanup.removeJobScheduler('cleanup-ttl');

    await t.rt.producer.add('cleanup', [{ jobId: 'cleanup-now', payload: { dryRun: true, ttlDays: 7 } }]);
    let job = await t.rt.queues.cleanup.getJob('cleanup-now');
    for (let i = 0; i < 200 && !job?.returnvalue; i++) {
      await sleep(50);
      job = await t.rt.queues.cleanup.getJob('cleanup-now');
    }
    expect(job?.returnvalue).toMatchObject({ dryRun: true, ttlDays: 7 });

    const cli = await runCli(['cleanup', '--dry-run', '--json'], env);
    expect(cli.code, cli.stderr).toBe(0);
    expect(JSON.parse(cli.stdout)).toMatchObject({ dryRun: true, ttlDays: t.rt.config.ttlDays, vectorStores: [] });
  });
});
