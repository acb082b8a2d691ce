/**
 * The orphan sweep in TTL cleanup (docs/design.md, "Labels, orphans and
 * deadlines") against the emulator over HTTP and real PostgreSQL: Files and
 * a store Sluice created whose registry rows are gone are deleted once
 * older than the grace period; younger ones, another deployment's, unlabelled
 * ones and a store registered read-only are left. Time moves, never rows:
 * the emulator's clock (OpenAI's `created_at`) and the `now` given to the
 * cleanup move together.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NotFoundError, toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '@sluice/openai-emulator';
import { runCleanup } from '../../src/cleanup/cleanup.ts';
import { labelFilename, storeMetadata } from '../../src/openai/labels.ts';
import { deploymentId } from '../../src/store/deployment.ts';
import { registerExternalStore } from '../../src/store/registry.ts';
import { sync } from '../../src/sync/sync.ts';
import { openTestRuntime, type TestRuntime } from '../helpers/runtime.ts';

const HOUR = 3600 * 1000;
const HASH = 'cd'.repeat(32);

let emu: RunningEmulator;
let t: TestRuntime;
let dir: string;

beforeAll(async () => {
  emu = await startEmulator({});
  t = await openTestRuntime({ OPENAI_BASE_URL: emu.url, OPENAI_API_KEY: 'test-key', OPENAI_UPLOAD_RPM: '100000' });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-orphans-'));
});

afterAll(async () => {
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

async function exists(fn: () => Promise<unknown>): Promise<boolean> {
  try {
    await fn();
    return true;
  } catch (err) {
    if (err instanceof NotFoundError) return false;
    throw err;
  }
}

/** Syncs a project, then forgets its rows: what a lost registry write (or a restored backup) leaves. */
async function orphanedSync(name: string, files: Record<string, string>) {
  const s = await sync(t.rt, { collection: name, sources: [project(name, files)] });
  const pool = t.rt.db.pool;
  const { rows } = await pool.query<{ content_hash: string; openai_file_id: string }>(
    `SELECT f.content_hash, f.openai_file_id FROM files f JOIN fileset_files ff ON ff.content_hash = f.content_hash
     WHERE ff.fileset_hash = $1`,
    [s.filesetHash],
  );
  await pool.query(`DELETE FROM fileset_files WHERE fileset_hash = $1`, [s.filesetHash]);
  await pool.query(`DELETE FROM filesets WHERE fileset_hash = $1`, [s.filesetHash]);
  await pool.query(`DELETE FROM files WHERE content_hash = ANY($1::text[])`, [rows.map((r) => r.content_hash)]);
  return { storeId: s.vectorStoreId!, fileIds: rows.map((r) => r.openai_file_id).sort() };
}

describe('orphan sweep', () => {
  it('deletes labelled objects the registry lost after the grace period; leaves younger, foreign, unlabelled and read-only ones', async () => {
    const openai = t.rt.openai;
    const me = await deploymentId(t.rt.context);
    const old = await orphanedSync('old', { 'a.md': '# A\n\nalpha\n', 'b.md': '# B\n\nbeta\n' });

    // Another deployment's labelled objects, unlabelled ones, and a labelled store registered read-only.
    const foreignFile = await openai.files.create({
      file: await toFile(Buffer.from('# X\n'), labelFilename('staging', HASH, 'x.md')),
      purpose: 'assistants',
    });
    const foreignStore = await openai.vectorStores.create({ metadata: storeMetadata('staging', HASH, 'x') });
    const plainFile = await openai.files.create({
      file: await toFile(Buffer.from('# P\n'), 'plain.md'),
      purpose: 'assistants',
    });
    const plainStore = await openai.vectorStores.create({ name: 'not sluice' });
    const readOnly = await openai.vectorStores.create({ metadata: storeMetadata(me, HASH, 'shared') });
    await registerExternalStore(t.rt.db.pool, readOnly.id, 'read_only', 'shared');

    // 25 hours later, new orphans: younger than the grace period.
    emu.advanceClock(25 * HOUR);
    const young = await orphanedSync('young', { 'y.md': '# Y\n\nyoung\n' });
    const now = new Date(emu.now());

    const dry = await runCleanup(t.rt.context, { now, dryRun: true });
    expect(dry.orphans).toMatchObject({ deployment: me, graceHours: 24, young: { files: 1, vectorStores: 1 } });
    expect(dry.orphans.vectorStores.map((s) => s.vectorStoreId)).toEqual([old.storeId]);
    expect(dry.orphans.files.map((f) => f.openaiFileId).sort()).toEqual(old.fileIds);
    expect(await exists(() => openai.vectorStores.retrieve(old.storeId))).toBe(true);

    const real = await runCleanup(t.rt.context, { now });
    expect(real.orphans.vectorStores).toEqual(dry.orphans.vectorStores);
    expect(real.orphans.files).toEqual(dry.orphans.files);
    expect(real.failed).toEqual([]);
    expect(await exists(() => openai.vectorStores.retrieve(old.storeId))).toBe(false);
    for (const id of old.fileIds) expect(await exists(() => openai.files.retrieve(id))).toBe(false);
    // Left alone.
    expect(await exists(() => openai.vectorStores.retrieve(young.storeId))).toBe(true);
    for (const id of young.fileIds) expect(await exists(() => openai.files.retrieve(id))).toBe(true);
    for (const id of [foreignStore.id, plainStore.id, readOnly.id])
      expect(await exists(() => openai.vectorStores.retrieve(id)), id).toBe(true);
    for (const id of [foreignFile.id, plainFile.id])
      expect(await exists(() => openai.files.retrieve(id)), id).toBe(true);

    // Past their grace period too, the young ones go; the rest stays.
    emu.advanceClock(25 * HOUR);
    const later = await runCleanup(t.rt.context, { now: new Date(emu.now()) });
    expect(later.orphans.vectorStores.map((s) => s.vectorStoreId)).toEqual([young.storeId]);
    expect(later.orphans.files.map((f) => f.openaiFileId)).toEqual(young.fileIds);
    for (const id of [foreignStore.id, plainStore.id, readOnly.id])
      expect(await exists(() => openai.vectorStores.retrieve(id)), id).toBe(true);
  });

  it('records a labelled File the registry still waits for instead of deleting it: the next sync uploads nothing', async () => {
    const p = project('adopt', { 'k.md': '# K\n\nkept\n' });
    const first = await sync(t.rt, { collection: 'adopt', sources: [p] });
    const { rows } = await t.rt.db.pool.query<{ content_hash: string; openai_file_id: string }>(
      `SELECT f.content_hash, f.openai_file_id FROM files f JOIN fileset_files ff ON ff.content_hash = f.content_hash
       WHERE ff.fileset_hash = $1`,
      [first.filesetHash],
    );
    // The File's id is lost from its row, and the store with it.
    await t.rt.db.pool.query(`UPDATE files SET openai_file_id = NULL, status = 'pending' WHERE content_hash = $1`, [
      rows[0]!.content_hash,
    ]);
    await t.rt.db.pool.query(`UPDATE filesets SET vector_store_id = NULL, status = 'pending' WHERE fileset_hash = $1`, [
      first.filesetHash,
    ]);
    emu.advanceClock(25 * HOUR);
    const r = await runCleanup(t.rt.context, { now: new Date(emu.now()) });
    expect(r.orphans.adopted).toEqual([{ openaiFileId: rows[0]!.openai_file_id, contentHash: rows[0]!.content_hash }]);
    expect(r.orphans.vectorStores.map((s) => s.vectorStoreId)).toEqual([first.vectorStoreId]);
    const uploads = emu.stats().files.created;
    const again = await sync(t.rt, { collection: 'adopt', sources: [p] });
    expect(again).toMatchObject({ status: 'completed', filesUploaded: 0, filesReused: 1 });
    expect(emu.stats().files.created).toBe(uploads);
  });
});
