/**
 * The emulator's state directory (`stateDir`, src/persistence.ts): what one
 * emulator hands out over HTTP, a new emulator on the same directory knows —
 * Files and their bytes, stores, attachments with their statuses and
 * errors, file batches, expiry and the clock — including after the first
 * one died without closing, and whatever an interrupted write left behind.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type OpenAI from 'openai';
import { toFile } from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { type RunningEmulator, StateDirError, startEmulator } from '../../src/index.ts';
import { admin, client } from '../helpers/emulator-http.ts';

const HOUR_MS = 3_600_000;
const dirs: string[] = [];
const running: RunningEmulator[] = [];

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emulator-state-'));
  dirs.push(dir);
  return dir;
}

async function start(stateDir: string, fileProcessingDelayMs = 0): Promise<RunningEmulator> {
  const emu = await startEmulator({ stateDir, fileProcessingDelayMs });
  running.push(emu);
  return emu;
}

afterEach(async () => {
  for (const emu of running.splice(0)) await emu.close();
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

async function upload(openai: OpenAI, name: string, content: string, expiresSeconds?: number): Promise<string> {
  const f = await openai.files.create({
    file: await toFile(Buffer.from(content), name),
    purpose: 'assistants',
    ...(expiresSeconds ? { expires_after: { anchor: 'created_at', seconds: expiresSeconds } } : {}),
  });
  return f.id;
}

/** Everything a client can read back, for comparing two emulators. */
async function observe(openai: OpenAI, storeId: string, batchIds: string[]) {
  const files = (await openai.files.list()).data.map((f) => ({ ...f }));
  const store = await openai.vectorStores.retrieve(storeId);
  const attachments = (await openai.vectorStores.files.list(storeId, { order: 'asc' })).data.map((f) => ({ ...f }));
  const batches = [];
  for (const id of batchIds)
    batches.push(await openai.vectorStores.fileBatches.retrieve(id, { vector_store_id: storeId }));
  const stores = (await openai.vectorStores.list()).data.map((s) => s.id);
  return { files, store: { ...store, last_active_at: undefined }, attachments, batches, stores };
}

/** A store with completed, failed, in-progress, cancelled and detached attachments, and an expiring File. */
async function populate(emu: RunningEmulator) {
  const openai = client(emu);
  const a = await upload(openai, 'a.md', '# Alpha\n\nalpha beta gamma delta');
  const b = await upload(openai, 'b.txt', 'bravo charlie');
  const bad = await upload(openai, 'bad.bin', 'not a supported type');
  const expiring = await upload(openai, 'e.md', 'expiring soon', 2 * 24 * 3600);
  const store = await openai.vectorStores.create({
    name: 'persisted',
    metadata: { fileset: 'f1' },
    expires_after: { anchor: 'last_active_at', days: 30 },
  });
  const done = await openai.vectorStores.fileBatches.createAndPoll(
    store.id,
    { file_ids: [a, b, bad], attributes: { kind: 'doc' } },
    { pollIntervalMs: 10 },
  );
  expect(done.file_counts).toMatchObject({ completed: 2, failed: 1 });
  await openai.vectorStores.files.delete(b, { vector_store_id: store.id }); // the batch keeps it
  emu.configure({ fileProcessingDelayMs: HOUR_MS });
  const pending = await openai.vectorStores.fileBatches.create(store.id, { file_ids: [expiring] });
  expect(pending.status).toBe('in_progress');
  const c = await upload(openai, 'c.md', 'charlie cancelled');
  const cancelled = await openai.vectorStores.fileBatches.create(store.id, { file_ids: [c] });
  await openai.vectorStores.fileBatches.cancel(cancelled.id, { vector_store_id: store.id });
  emu.advanceClock(60_000);
  return { storeId: store.id, batchIds: [done.id, pending.id, cancelled.id], files: { a, b, bad, expiring, c } };
}

describe('emulator state directory', () => {
  it('a new emulator loads what the last one handed out, even when the last one never closed', async () => {
    const dir = tempDir();
    const first = await start(dir);
    const made = await populate(first);
    const before = await observe(client(first), made.storeId, made.batchIds);
    expect(before.attachments.map((f) => [f.id, f.status])).toEqual([
      [made.files.a, 'completed'],
      [made.files.bad, 'failed'],
      [made.files.expiring, 'in_progress'],
      [made.files.c, 'cancelled'],
    ]);
    expect(before.batches.map((b) => b.status)).toEqual(['completed', 'in_progress', 'cancelled']);
    const offset = first.stats().clock.offsetMs;

    // As if the first process were killed: a copy of the directory as it stands, no close.
    const copy = tempDir();
    fs.cpSync(dir, copy, { recursive: true });
    const second = await start(copy, HOUR_MS);
    const openai = client(second);
    expect(await observe(openai, made.storeId, made.batchIds)).toEqual(before);
    expect(second.stats().clock.offsetMs).toBeGreaterThanOrEqual(offset);
    expect(second.now()).toBeGreaterThanOrEqual(first.now() - 1000);
    const failed = await openai.vectorStores.files.retrieve(made.files.bad, { vector_store_id: made.storeId });
    expect(failed.last_error?.code).toBe('unsupported_file');
    const content = await openai.vectorStores.files.content(made.files.a, { vector_store_id: made.storeId });
    expect(content.data.map((p) => p.text).join('')).toBe('# Alpha\n\nalpha beta gamma delta'); // from the kept bytes
    const hits = await openai.vectorStores.search(made.storeId, { query: 'alpha gamma' });
    expect(hits.data[0]?.file_id).toBe(made.files.a);
    expect(hits.data[0]?.attributes).toEqual({ kind: 'doc' });

    // The restored clock keeps running: the pending batch finishes, the expiring File expires.
    second.advanceClock(HOUR_MS);
    const pending = await openai.vectorStores.fileBatches.retrieve(made.batchIds[1]!, {
      vector_store_id: made.storeId,
    });
    expect(pending.status).toBe('completed');
    second.advanceClock(2 * 24 * HOUR_MS);
    await expect(openai.files.retrieve(made.files.expiring)).rejects.toMatchObject({ status: 404 });

    // A third emulator on the copy sees the second one's changes after a normal close.
    await second.close();
    const third = await start(copy, HOUR_MS);
    const ids = (await client(third).files.list()).data.map((f) => f.id);
    expect(ids).not.toContain(made.files.expiring);
    expect(ids).toContain(made.files.a);
    const files = fs.readdirSync(path.join(copy, 'blobs'));
    expect(files).toHaveLength(ids.length); // the expired File's bytes are gone
  });

  it('ignores what an interrupted write left: truncated temporary files, a blob no snapshot names', async () => {
    const dir = tempDir();
    const emu = await start(dir);
    const openai = client(emu);
    const id = await upload(openai, 'kept.md', 'kept content');
    const store = await openai.vectorStores.create({ name: 'kept', file_ids: [id] });
    await emu.close();
    const snapshot = fs.readFileSync(path.join(dir, 'state.json'), 'utf8');

    // Killed while writing the next snapshot and a new blob (the temporary files, cut short)…
    fs.writeFileSync(path.join(dir, 'state.json.tmp-424242'), snapshot.slice(0, snapshot.length / 2));
    fs.writeFileSync(path.join(dir, 'blobs', 'f'.repeat(64)), 'a blob whose snapshot never landed');
    fs.writeFileSync(path.join(dir, 'blobs', `${'e'.repeat(64)}.tmp-424242`), 'half a bl');
    // … or before its temporary file existed at all: state.json is simply the last one.
    const again = await start(dir);
    const openai2 = client(again);
    expect((await openai2.files.list()).data.map((f) => f.id)).toEqual([id]);
    expect((await openai2.vectorStores.retrieve(store.id)).file_counts).toMatchObject({ completed: 1, total: 1 });
    expect(fs.readdirSync(dir).filter((n) => n.includes('.tmp-'))).toEqual([]);
    expect(fs.readdirSync(path.join(dir, 'blobs'))).toHaveLength(1);

    // A reset is saved too.
    await admin(again, '/_emulator/reset', { method: 'POST' });
    await again.close();
    const empty = await start(dir);
    expect((await client(empty).files.list()).data).toEqual([]);
    expect(fs.readdirSync(path.join(dir, 'blobs'))).toEqual([]);
  });

  it('refuses a directory a live process holds, and takes over one whose process is gone', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'lock'), JSON.stringify({ pid: process.ppid }));
    await expect(startEmulator({ stateDir: dir })).rejects.toBeInstanceOf(StateDirError);

    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    fs.writeFileSync(path.join(dir, 'lock'), JSON.stringify({ pid: Number(gone) }));
    const emu = await start(dir);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'lock'), 'utf8'))).toEqual({ pid: process.pid });
    await emu.close();
    expect(fs.existsSync(path.join(dir, 'lock'))).toBe(false);
  });

  it('refuses a snapshot it cannot read instead of starting empty', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'state.json'), '{"version":1,"files":[');
    await expect(startEmulator({ stateDir: dir })).rejects.toThrow(/state\.json is not valid JSON/);
    expect(fs.existsSync(path.join(dir, 'lock'))).toBe(false);
  });
});
