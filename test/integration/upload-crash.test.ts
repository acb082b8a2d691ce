/**
 * A worker SIGKILLed between `files.create` and the registry write
 * (docs/design.md, "Labels, orphans and deadlines"): a real `sluice sync`
 * child process is killed while the emulator holds back the responses of
 * Files it has already created, so the Files exist at OpenAI and the
 * registry still says `uploading`. The next sync takes the stale claims
 * over, finds each File by its label and reuses it: no second upload.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '@sluice/openai-emulator';
import { parseFileLabel } from '../../src/openai/labels.ts';
import { totalDrift } from '../../src/reconcile/drift.ts';
import { runCli, spawnCli } from '../helpers/cli.ts';
import { openTestRuntime, type TestRuntime } from '../helpers/runtime.ts';
import { until } from '../helpers/wait.ts';

let emu: RunningEmulator;
let t: TestRuntime;
let dir: string;
let env: Record<string, string>;

beforeAll(async () => {
  emu = await startEmulator({});
  const extra = { OPENAI_BASE_URL: emu.url, OPENAI_API_KEY: 'test-key', OPENAI_UPLOAD_RPM: '100000' };
  // No workers in this process: only the CLI children work the queues.
  t = await openTestRuntime(extra, { workers: false });
  env = { ...t.iso.env, ...extra };
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-crash-'));
});

afterAll(async () => {
  await t?.close();
  await emu?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('upload killed between files.create and the registry write', () => {
  it('the next run reuses the labelled Files the dead worker created: no second upload', async () => {
    const project = path.join(dir, 'p');
    fs.mkdirSync(project);
    for (const n of ['a.md', 'b.txt', 'c.md']) fs.writeFileSync(path.join(project, n), `# ${n}\n\nThe text of ${n}.\n`);

    // Every response waits 30 s after its request was handled: the Files exist, their ids have not arrived.
    emu.configure({ latencyMs: 30_000 });
    const child = spawnCli(['sync', project, '--collection', 'crash', '--json'], env);
    const exited = new Promise<NodeJS.Signals | null>((r) => child.on('exit', (_code, signal) => r(signal)));
    await until(async () => (emu.stats().files.created === 3 ? true : undefined), 'three Files created', 60_000);
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    emu.configure({ latencyMs: 0 });

    // Killed at exactly that point: three Files at OpenAI, none recorded.
    const { rows: before } = await t.rt.db.pool.query<{ status: string; openai_file_id: string | null }>(
      `SELECT status, openai_file_id FROM files`,
    );
    expect(before).toHaveLength(3);
    expect(before.every((r) => r.status === 'uploading' && r.openai_file_id === null)).toBe(true);
    const created = (await t.rt.openai.files.list()).data;
    expect(created.map((f) => parseFileLabel(f.filename)?.filename).sort()).toEqual(['a.md', 'b.txt', 'c.md']);

    // The next run: its claims go stale after 5 × OPENAI_TIMEOUT_MS = 20 s.
    const again = await runCli(['sync', project, '--collection', 'crash', '--json'], {
      ...env,
      OPENAI_TIMEOUT_MS: '4000',
    });
    expect(again.code, again.stderr).toBe(0);
    const result = JSON.parse(again.stdout);
    expect(result).toMatchObject({ status: 'completed', filesUploaded: 0, filesReused: 3, failedFiles: [] });
    expect(emu.stats().files.created).toBe(3);
    const { rows: after } = await t.rt.db.pool.query<{ openai_file_id: string }>(
      `SELECT openai_file_id FROM files ORDER BY openai_file_id`,
    );
    expect(after.map((r) => r.openai_file_id)).toEqual(created.map((f) => f.id).sort());
    const attached = [];
    for await (const f of t.rt.openai.vectorStores.files.list(result.vectorStoreId)) attached.push(f.id);
    expect(attached.sort()).toEqual(created.map((f) => f.id).sort());

    // Nothing left over: with every object counted whatever its age, reconcile finds no drift
    // (a second upload would have left the first File as an extra_file).
    const reconcile = await runCli(['reconcile', '--json', '--grace-hours', '0'], env);
    console.log(`$ sluice reconcile --json --grace-hours 0\n${reconcile.stdout}`);
    expect(reconcile.code, reconcile.stderr).toBe(0);
    expect(totalDrift(JSON.parse(reconcile.stdout).found)).toBe(0);
  }, 120_000);

  it('a retry of the same job whose response was lost records the File its first attempt created, as uploaded', async () => {
    const project = path.join(dir, 'retry');
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, 'r.md'), '# R\n\nThe response of this upload is lost.\n');
    const before = emu.stats().files.created;
    // The File is created at once; its response comes after the client's 1 s timeout: the attempt fails, retried.
    emu.configure({ latencyMs: 5000 });
    const run = runCli(['sync', project, '--collection', 'retry', '--json'], {
      ...env,
      OPENAI_TIMEOUT_MS: '1000',
      JOB_BACKOFF_MS: '1000',
    });
    await until(async () => (emu.stats().files.created === before + 1 ? true : undefined), 'the File', 60_000);
    emu.configure({ latencyMs: 0 });
    const r = await run;
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'completed', filesUploaded: 1, filesReused: 0 });
    expect(emu.stats().files.created).toBe(before + 1);
  }, 120_000);
});
