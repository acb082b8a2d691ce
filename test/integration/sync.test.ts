/**
 * Content-addressed upload and vector-store reuse against the emulator over
 * HTTP, real Redis and real PostgreSQL: concurrent syncs from separate
 * processes converge on one upload per content and one store; a store
 * deleted behind Sluice's back is recreated without re-uploading; an
 * unsupported file is reported with OpenAI's error while the rest completes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '@sluice/openai-emulator';
import { sync } from '../../src/sync/sync.ts';
import { runCli } from '../helpers/cli.ts';
import { writeProject } from '../helpers/project.ts';
import { openTestRuntime, type TestRuntime } from '../helpers/runtime.ts';

let emu: RunningEmulator;
let t: TestRuntime;
let dir: string;
let env: Record<string, string>;

beforeAll(async () => {
  emu = await startEmulator({});
  t = await openTestRuntime({ OPENAI_BASE_URL: emu.url, OPENAI_API_KEY: 'test-key', OPENAI_UPLOAD_RPM: '100000' });
  env = { ...t.iso.env, OPENAI_BASE_URL: emu.url, OPENAI_API_KEY: 'test-key', OPENAI_UPLOAD_RPM: '100000' };
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-sync-'));
});

afterAll(async () => {
  await t?.close();
  await emu?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('sync', () => {
  it('8 concurrent syncs of one 200-file fileset from separate processes: each content uploaded once, one store', async () => {
    const project = path.join(dir, 'p200');
    writeProject(project, 200, 2000);
    emu.reset();
    const runs = await Promise.all(
      Array.from({ length: 8 }, () => runCli(['sync', project, '--collection', 'p200', '--json'], env)),
    );
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    const results = runs.map((r) => JSON.parse(r.stdout));
    const stats = emu.stats();
    expect(stats.files.created).toBe(200);
    expect(stats.files.duplicateUploads).toBe(0);
    expect(stats.vectorStores.created).toBe(1);
    expect(new Set(results.map((r) => r.vectorStoreId)).size).toBe(1);
    expect(results.every((r) => r.status === 'completed' && r.failedFiles.length === 0)).toBe(true);
    expect(results.reduce((s, r) => s + r.filesUploaded, 0)).toBe(200);
    console.log(
      `8 syncs: uploads ${stats.files.created}, stores created ${stats.vectorStores.created}, store ${results[0].vectorStoreId}`,
    );
  }, 120_000);

  it('reuses the store for an identical fileset, whatever the order, names or line endings', async () => {
    const a = path.join(dir, 'a');
    const b = path.join(dir, 'b');
    fs.mkdirSync(a);
    fs.mkdirSync(b);
    fs.writeFileSync(path.join(a, 'one.md'), '# One\nfirst file\n');
    fs.writeFileSync(path.join(a, 'two.txt'), 'second file\n');
    fs.writeFileSync(path.join(b, 'renamed.md'), 'second file\r\n'); // same content, CRLF
    fs.writeFileSync(path.join(b, 'x.md'), '# One\r\nfirst file\r\n');
    const first = await sync(t.rt, { collection: 'ab', sources: [a] });
    const before = emu.stats();
    const second = await sync(t.rt, { collection: 'ab', sources: [b] });
    expect(second).toMatchObject({
      vectorStoreId: first.vectorStoreId,
      reused: true,
      filesUploaded: 0,
      filesReused: 2,
    });
    expect(emu.stats().files.created).toBe(before.files.created);
    expect(emu.stats().vectorStores.created).toBe(before.vectorStores.created);
  });

  it('recreates a store deleted behind its back, with the same files and no upload', async () => {
    const project = path.join(dir, 'gone');
    writeProject(project, 20, 500);
    const first = await sync(t.rt, { collection: 'gone', sources: [project] });
    await t.rt.openai.vectorStores.delete(first.vectorStoreId!);
    const uploads = emu.stats().files.created;
    const again = await sync(t.rt, { collection: 'gone', sources: [project] });
    expect(again).toMatchObject({
      reused: false,
      recreated: true,
      status: 'completed',
      filesUploaded: 0,
      filesReused: 20,
    });
    expect(again.vectorStoreId).not.toBe(first.vectorStoreId);
    expect(emu.stats().files.created).toBe(uploads);
    const attached = [];
    for await (const f of t.rt.openai.vectorStores.files.list(again.vectorStoreId!)) attached.push(f.id);
    expect(attached).toHaveLength(20);
  });

  it('recreates an expired store and re-uploads a file OpenAI lost', async () => {
    const project = path.join(dir, 'expire');
    writeProject(project, 5, 300);
    const first = await sync(t.rt, { collection: 'expire', sources: [project] });
    emu.advanceClock((t.rt.config.ttlDays + 1) * 24 * 3600 * 1000);
    expect((await t.rt.openai.vectorStores.retrieve(first.vectorStoreId!)).status).toBe('expired');
    // One file deleted out of band: the next store needs it again.
    const { rows } = await t.rt.db.pool.query<{ openai_file_id: string }>(
      `SELECT f.openai_file_id FROM files f JOIN fileset_files ff ON ff.content_hash = f.content_hash
       WHERE ff.fileset_hash = $1 AND ff.filename = 'file0.md'`,
      [first.filesetHash],
    );
    await t.rt.openai.files.delete(rows[0]!.openai_file_id);
    const again = await sync(t.rt, { collection: 'expire', sources: [project] });
    expect(again).toMatchObject({ recreated: true, status: 'completed', filesReuploaded: 1 });
  });

  it("reports an unsupported file with OpenAI's error and completes the rest", async () => {
    const project = path.join(dir, 'mixed');
    writeProject(project, 10, 400);
    fs.writeFileSync(path.join(project, 'data.xyz'), 'not a supported type');
    const r = await runCli(['sync', project, '--collection', 'mixed', '--json'], env);
    expect(r.code).toBe(1); // something failed
    const s = JSON.parse(r.stdout);
    expect(s.status).toBe('partial');
    expect(s.failedFiles).toEqual([
      expect.objectContaining({ filename: 'data.xyz', error: expect.stringMatching(/unsupported_file/) }),
    ]);
    let completed = 0;
    for await (const f of t.rt.openai.vectorStores.files.list(s.vectorStoreId, { filter: 'completed' }))
      if (f.status === 'completed') completed++;
    expect(completed).toBe(10);
  });

  it('with sink both, sends the same files through the embed path into pgvector too', async () => {
    const project = path.join(dir, 'both');
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, 'guide.md'), '# Guide\n\nHow to configure the widget refresh interval.\n');
    fs.writeFileSync(path.join(project, 'notes.txt'), 'Release notes: the widget now supports dark themes.\n');
    const s = await sync(t.rt, { collection: 'both', sources: [project], sink: 'both' });
    expect(s.status).toBe('completed');
    expect(s.vectorStoreId).toMatch(/^vs_/);
    expect(s.pgvector).toMatchObject({ documents: 2, failed: [] });
    expect(s.pgvector!.chunks).toBeGreaterThanOrEqual(2);
    const again = await sync(t.rt, { collection: 'both', sources: [project], sink: 'both' });
    expect(again).toMatchObject({ reused: true, filesUploaded: 0 });
    expect(again.pgvector).toMatchObject({ tokensEmbedded: 0 });
  });
});
