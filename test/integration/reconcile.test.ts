/**
 * Reconcile (docs/design.md, "Reconcile") against the emulator over HTTP,
 * real Redis and real PostgreSQL + pgvector, through the real CLI: drift of
 * each kind is injected (a store deleted at OpenAI, a labelled File nobody
 * recorded, a File detached from its store, a vector lost from pgvector, an
 * embedding no chunk references and nobody used for longer than the TTL),
 * `sluice reconcile` reports each, `--fix` brings each to zero, and the
 * drift gauge follows reconcile and the scheduled cleanup.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NotFoundError, toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '@sluice/openai-emulator';
import { ingest } from '../../src/ingest/ingest.ts';
import { setDriftSource } from '../../src/metrics/drift.ts';
import { registry } from '../../src/metrics/metrics.ts';
import { labelFilename } from '../../src/openai/labels.ts';
import { DRIFT_KINDS, type DriftCounts, totalDrift, zeroCounts } from '../../src/reconcile/drift.ts';
import { latestDrift, type ReconcileReport, runReconcile } from '../../src/reconcile/reconcile.ts';
import { deploymentId } from '../../src/store/deployment.ts';
import { sync } from '../../src/sync/sync.ts';
import { runCli } from '../helpers/cli.ts';
import { openTestRuntime, type TestRuntime } from '../helpers/runtime.ts';
import { until } from '../helpers/wait.ts';

let emu: RunningEmulator;
let t: TestRuntime;
let dir: string;
let env: Record<string, string>;

beforeAll(async () => {
  emu = await startEmulator({});
  const extra = { OPENAI_BASE_URL: emu.url, OPENAI_API_KEY: 'test-key', OPENAI_UPLOAD_RPM: '100000' };
  t = await openTestRuntime(extra);
  env = { ...t.iso.env, ...extra };
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-reconcile-'));
});

afterAll(async () => {
  setDriftSource(undefined);
  await t?.close();
  await emu?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function project(name: string, files: Record<string, string>): string {
  const p = path.join(dir, name);
  fs.mkdirSync(p, { recursive: true });
  for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(p, f), text);
  return p;
}

const doc = (id: string, text: string) => JSON.stringify({ id, markdown: `# ${id}\n\n${text}\n` });

/** `sluice reconcile …` in a child process; every object counts, whatever its age (the CLI's clock is the wall's). */
async function reconcileCli(...args: string[]): Promise<{ code: number | null; report: ReconcileReport }> {
  const r = await runCli(['reconcile', '--json', '--grace-hours', '0', ...args], env);
  expect(r.stdout, r.stderr).not.toBe('');
  return { code: r.code, report: JSON.parse(r.stdout) as ReconcileReport };
}

function only(counts: Partial<DriftCounts>): DriftCounts {
  return { ...zeroCounts(), ...counts };
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

async function driftGauge(): Promise<Record<string, number>> {
  const values = (await registry.getSingleMetric('sluice_index_drift')!.get()).values;
  return Object.fromEntries(values.map((v) => [String(v.labels.kind), v.value]));
}

describe('reconcile', () => {
  it('reports injected drift of each kind, and --fix brings each to zero', async () => {
    const pool = t.rt.db.pool;
    const openai = t.rt.openai;
    const kept = await sync(t.rt, {
      collection: 'rc',
      sources: [project('kept', { 'a.md': '# A\n\nalpha\n', 'b.md': '# B\n\nbeta\n', 'c.md': '# C\n\ngamma\n' })],
    });
    const lost = await sync(t.rt, { collection: 'rc2', sources: [project('lost', { 'd.md': '# D\n\ndelta\n' })] });
    await ingest(t.rt, {
      collection: 'rc',
      sources: [doc('p1', 'Reconcile compares the registry with pgvector.'), doc('p2', 'A second page of text.')],
    });

    const clean = await reconcileCli();
    expect(clean.code).toBe(0);
    expect(clean.report.found).toEqual(zeroCounts());

    // Inject one difference of each kind.
    await openai.vectorStores.delete(lost.vectorStoreId!); // missing store
    const me = await deploymentId(t.rt.context);
    const extra = await openai.files.create({
      file: await toFile(Buffer.from('# E\n'), labelFilename(me, 'e'.repeat(64), 'extra.md')),
      purpose: 'assistants',
    }); // extra file
    const { rows: kf } = await pool.query<{ openai_file_id: string }>(
      `SELECT f.openai_file_id FROM files f JOIN fileset_files ff ON ff.content_hash = f.content_hash
       WHERE ff.fileset_hash = $1 AND ff.filename = 'b.md'`,
      [kept.filesetHash],
    );
    const detached = kf[0]!.openai_file_id;
    await openai.vectorStores.files.delete(detached, { vector_store_id: kept.vectorStoreId! }); // detached file
    const { rows: lostVector } = await pool.query<{ chunk_hash: string }>(
      `DELETE FROM embeddings WHERE chunk_hash = (
         SELECT ch.chunk_hash FROM chunks ch JOIN documents d ON d.id = ch.document_id WHERE d.uri LIKE '%p1%' LIMIT 1)
       RETURNING chunk_hash`,
    ); // chunk without embedding
    const strayHash = 'f'.repeat(64);
    await pool.query(
      `INSERT INTO embeddings (model, dimensions, chunk_hash, embedding, token_count, created_at, last_used_at)
       VALUES ($1, $2, $3, array_fill(0.01::real, ARRAY[$2::int])::vector, 3, now() - interval '40 days', now() - interval '40 days')`,
      [t.rt.config.embedding.model, t.rt.config.embedding.dimensions, strayHash],
    ); // embedding without chunk, unused for longer than TTL_DAYS

    const text = await runCli(['reconcile', '--grace-hours', '0'], env);
    console.log(`$ sluice reconcile --grace-hours 0\n${text.stdout}`);
    expect(text.code).toBe(1);
    const seen = await reconcileCli();
    expect(seen.code).toBe(1);
    expect(seen.report.found).toEqual(
      only({
        missing_store: 1,
        extra_file: 1,
        detached_file: 1,
        // The detached File no longer counts as completed at OpenAI.
        file_count_mismatch: 1,
        chunk_without_embedding: 1,
        embedding_without_chunk: 1,
      }),
    );
    expect(seen.report.items.map((i) => [i.kind, i.id]).sort()).toEqual(
      [
        ['chunk_without_embedding', lostVector[0]!.chunk_hash],
        ['detached_file', detached],
        ['embedding_without_chunk', `${t.rt.config.embedding.model}/${t.rt.config.embedding.dimensions}/${strayHash}`],
        ['extra_file', extra.id],
        ['file_count_mismatch', kept.vectorStoreId],
        ['missing_store', lost.vectorStoreId],
      ].sort(),
    );

    // Limited to one collection: only its stores, documents and chunks.
    const scoped = await reconcileCli('--collection', 'rc2');
    expect(scoped.report.found).toEqual(only({ missing_store: 1 }));

    const fixedText = await runCli(['reconcile', '--fix', '--grace-hours', '0'], env);
    console.log(`$ sluice reconcile --fix --grace-hours 0\n${fixedText.stdout}`);
    expect(fixedText.code, fixedText.stderr).toBe(0);
    const { report: fixed } = await reconcileCli(); // fixed above: nothing left to find
    expect(fixed.found).toEqual(zeroCounts());

    // Repaired, not just forgotten: the lost store is back with its file, the detached File is attached again,
    // the lost vector is embedded again, the stray embedding and the extra File are gone.
    const { rows: again } = await pool.query<{ vector_store_id: string; status: string }>(
      `SELECT vector_store_id, status FROM filesets WHERE fileset_hash = $1`,
      [lost.filesetHash],
    );
    expect(again[0]!.status).toBe('completed');
    expect(again[0]!.vector_store_id).not.toBe(lost.vectorStoreId);
    expect((await openai.vectorStores.retrieve(again[0]!.vector_store_id)).file_counts.completed).toBe(1);
    expect((await openai.vectorStores.files.retrieve(detached, { vector_store_id: kept.vectorStoreId! })).status).toBe(
      'completed',
    );
    expect(await gone(() => openai.files.retrieve(extra.id))).toBe(true);
    const { rows: vectors } = await pool.query<{ chunk_hash: string }>(
      `SELECT chunk_hash FROM embeddings WHERE chunk_hash = ANY($1::text[])`,
      [[lostVector[0]!.chunk_hash, strayHash]],
    );
    expect(vectors.map((v) => v.chunk_hash)).toEqual([lostVector[0]!.chunk_hash]);
    // Nothing was uploaded again: every File the registry knew still existed.
    expect(emu.stats().files.created).toBe(5);
  }, 120_000);

  it('finds and repairs the other kinds: extra store, missing File, extra attachment, status mismatch', async () => {
    const pool = t.rt.db.pool;
    const openai = t.rt.openai;
    const me = await deploymentId(t.rt.context);
    const s = await sync(t.rt, {
      collection: 'more',
      sources: [project('more', { 'm.md': '# M\n\nmu\n', 'n.md': '# N\n\nnu\n', 'o.md': '# O\n\nomicron\n' })],
    });
    const files = new Map(
      (
        await pool.query<{ filename: string; openai_file_id: string }>(
          `SELECT ff.filename, f.openai_file_id FROM files f JOIN fileset_files ff ON ff.content_hash = f.content_hash
           WHERE ff.fileset_hash = $1`,
          [s.filesetHash],
        )
      ).rows.map((r) => [r.filename, r.openai_file_id]),
    );
    const stray = await openai.vectorStores.create({
      metadata: { sluice_deployment: me, sluice_fileset: '9'.repeat(64), sluice_collection: 'more' },
    }); // extra store
    await openai.files.delete(files.get('m.md')!); // missing File (and so detached from its store)
    const foreign = await openai.files.create({
      file: await toFile(Buffer.from('x'), 'foreign.md'),
      purpose: 'assistants',
    });
    await openai.vectorStores.files.create(s.vectorStoreId!, { file_id: foreign.id }); // extra attachment
    await pool.query(`UPDATE fileset_files SET status = 'failed' WHERE fileset_hash = $1 AND filename = 'o.md'`, [
      s.filesetHash,
    ]); // status mismatch: it serves at OpenAI

    const r = await runReconcile(t.rt.context, { graceHours: 0, collection: 'more' });
    expect(r.found).toEqual(
      only({ extra_store: 1, missing_file: 1, extra_attachment: 1, status_mismatch: 1, file_count_mismatch: 1 }),
    );
    const uploads = emu.stats().files.created;
    const fixed = await runReconcile(t.rt.context, { graceHours: 0, collection: 'more', fix: true });
    expect(fixed.drift).toEqual(zeroCounts());
    expect(fixed.fixes).toMatchObject({ vectorStoresDeleted: 1, filesForgotten: 1, storesRepaired: 1, failed: [] });
    expect(emu.stats().files.created).toBe(uploads + 1); // the lost File, uploaded again from the kept bytes
    expect(await gone(() => openai.vectorStores.retrieve(stray.id))).toBe(true);
    expect(
      await gone(() => openai.vectorStores.files.retrieve(foreign.id, { vector_store_id: s.vectorStoreId! })),
    ).toBe(true);
    expect(await openai.vectorStores.retrieve(s.vectorStoreId!)).toMatchObject({
      file_counts: { completed: 3, total: 3 },
    });
    const { rows } = await pool.query<{ status: string }>(
      `SELECT status FROM fileset_files WHERE fileset_hash = $1 ORDER BY filename`,
      [s.filesetHash],
    );
    expect(rows.map((x) => x.status)).toEqual(['completed', 'completed', 'completed']);
  });

  it('a fix in the TypeScript API reports what it found and what it left, per collection', async () => {
    const s = await sync(t.rt, { collection: 'api', sources: [project('api', { 'x.md': '# X\n\nx\n' })] });
    await t.rt.openai.vectorStores.delete(s.vectorStoreId!);
    const wholeBefore = await latestDrift(t.rt.db.pool);
    const r = await runReconcile(t.rt.context, { fix: true, collection: 'api' });
    expect(r.found).toEqual(only({ missing_store: 1 }));
    expect(r.drift).toEqual(zeroCounts());
    expect(r.fixes).toMatchObject({ storesRepaired: 1, failed: [] });
    expect(r.collections).toEqual([
      {
        collection: 'api',
        documents: 0,
        chunks: 0,
        chunksEmbedded: 0,
        vectorStores: 1,
        filesCompleted: 1,
        filesCompletedAtOpenAI: 1,
      },
    ]);
    // A collection-scoped run does not set the gauge: only whole-deployment runs are recorded as its value.
    expect(await latestDrift(t.rt.db.pool)).toEqual(wholeBefore);
  });

  it('the drift gauge reports the latest whole reconcile, from the scheduled cleanup and from reconcile', async () => {
    setDriftSource(() => latestDrift(t.rt.db.pool));
    const s = await sync(t.rt, { collection: 'gauge', sources: [project('gauge', { 'g.md': '# G\n\ng\n' })] });
    const { rows } = await t.rt.db.pool.query<{ openai_file_id: string }>(
      `SELECT f.openai_file_id FROM files f JOIN fileset_files ff ON ff.content_hash = f.content_hash WHERE ff.fileset_hash = $1`,
      [s.filesetHash],
    );
    await t.rt.openai.vectorStores.files.delete(rows[0]!.openai_file_id, { vector_store_id: s.vectorStoreId! });

    // The scheduled cleanup: a cleanup job on the cleanup queue, worked by this process's cleanup worker.
    await t.rt.producer.add('cleanup', [{ jobId: 'cleanup-drift', payload: { dryRun: false } }]);
    const state = await until(async () => {
      const st = await t.rt.queues.cleanup.getJobState('cleanup-drift');
      return st === 'completed' || st === 'failed' ? st : undefined;
    }, 'the cleanup job');
    expect(state).toBe('completed');
    const job = await t.rt.queues.cleanup.getJob('cleanup-drift');
    expect(job!.returnvalue.drift).toEqual(only({ detached_file: 1, file_count_mismatch: 1 }));
    const gauge = await driftGauge();
    expect(Object.keys(gauge).sort()).toEqual([...DRIFT_KINDS].sort());
    expect(gauge).toMatchObject({ detached_file: 1, file_count_mismatch: 1, missing_store: 0 });

    const fixed = await runReconcile(t.rt.context, { fix: true });
    expect(totalDrift(fixed.drift)).toBe(0);
    expect(Object.values(await driftGauge()).every((v) => v === 0)).toBe(true);
  });
});
