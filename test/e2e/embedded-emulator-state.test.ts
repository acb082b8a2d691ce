/**
 * The embedded default's OpenAI side outlives a process and is shared by
 * the processes of one DATA_DIR (src/openai/emulator.ts
 * `openEmbeddedEmulator`; docs/design.md, "Embedded defaults and
 * production parts"): no DATABASE_URL, no OPENAI_API_KEY, real CLI
 * processes, real Redis.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import OpenAI, { toFile } from 'openai';
import { createLogger } from '../../src/log/logger.ts';
import { openEmbeddedEmulator } from '../../src/openai/emulator.ts';
import { REPO_ROOT, runCli } from '../helpers/cli.ts';
import { writeProject } from '../helpers/project.ts';
import { isolate, requireRedis, type TestIsolation } from '../helpers/services.ts';

const FILES = 42;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  await requireRedis();
});

afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** A fresh DATA_DIR, queue prefix and 42-file project. */
function setup(): { env: Record<string, string>; project: string; dataDir: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-emu-state-'));
  const dataDir = path.join(root, 'data');
  const project = path.join(root, 'project');
  writeProject(project, FILES, 2_000);
  const iso: TestIsolation = isolate({}, { postgres: false });
  cleanups.push(
    () => iso.cleanup(),
    () => fs.rmSync(root, { recursive: true, force: true }),
  );
  return { env: { ...iso.env, DATA_DIR: dataDir }, project, dataDir };
}

function summary(r: { code: number | null; stdout: string; stderr: string }) {
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

describe('embedded emulator state across processes', () => {
  it('a second sync in a new process reuses the store and uploads nothing', async () => {
    const { env, project, dataDir } = setup();
    const first = summary(await runCli(['sync', project, '--json'], env));
    expect(first).toMatchObject({ reused: false, recreated: false, filesUploaded: FILES, failedFiles: [] });
    expect(fs.existsSync(path.join(dataDir, 'emulator', 'state.json'))).toBe(true);
    expect(fs.existsSync(path.join(dataDir, 'emulator.lock'))).toBe(false); // released at exit

    const second = summary(await runCli(['sync', project, '--json'], env));
    process.stdout.write(`second sync: ${JSON.stringify(second)}\n`);
    expect(second).toMatchObject({
      vectorStoreId: first.vectorStoreId,
      reused: true,
      recreated: false,
      filesUploaded: 0,
      filesReuploaded: 0,
      failedFiles: [],
    });
  }, 300_000);

  it('two syncs started at once on one DATA_DIR both succeed with one store', async () => {
    const { env, project } = setup();
    const [a, b] = await Promise.all([
      runCli(['sync', project, '--json'], env),
      runCli(['sync', project, '--json'], env),
    ]);
    const sa = summary(a);
    const sb = summary(b);
    process.stdout.write(`concurrent syncs: ${JSON.stringify(sa)} ${JSON.stringify(sb)}\n`);
    expect(sa.vectorStoreId).toBe(sb.vectorStoreId);
    expect(sa.failedFiles).toEqual([]);
    expect(sb.failedFiles).toEqual([]);
    expect(sa.filesUploaded + sb.filesUploaded).toBeLessThanOrEqual(FILES);

    // …and what they left is what a later process finds.
    const again = summary(await runCli(['sync', project, '--json'], env));
    expect(again).toMatchObject({ vectorStoreId: sa.vectorStoreId, reused: true, filesUploaded: 0 });
  }, 300_000);

  it('a process that joined the emulator of another carries on from the saved state when that one is killed', async () => {
    const { dataDir } = setup();
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'test/helpers/embedded-emulator-child.ts')], {
      env: { PATH: process.env.PATH ?? '', DATA_DIR: dataDir },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    cleanups.push(() => {
      child.kill('SIGKILL');
    });
    const [line] = (await once(child.stdout!, 'data')) as [Buffer];
    const owner = JSON.parse(line.toString());
    expect(owner.owner).toBe(true);

    const joined = await openEmbeddedEmulator(dataDir, createLogger('silent'));
    cleanups.push(() => joined.close());
    expect(joined.url()).toBe(owner.url);
    expect(joined.running()).toBeUndefined();
    const openai = new OpenAI({ apiKey: 'x', baseURL: joined.url(), maxRetries: 0, fetch: joined.fetch });
    const file = await openai.files.create({
      file: await toFile(Buffer.from('# kept\n\nkept'), 'k.md'),
      purpose: 'assistants',
    });
    const store = await openai.vectorStores.create({ name: 'kept', file_ids: [file.id] });

    child.kill('SIGKILL'); // no close, no last save: what was answered is on disk already
    await once(child, 'exit');
    const again = await openai.vectorStores.retrieve(store.id);
    expect(again.file_counts.total).toBe(1);
    expect(joined.running()).toBeDefined(); // this process took over
    expect(joined.url()).not.toBe(owner.url);
    expect((await openai.files.retrieve(file.id)).filename).toBe('k.md');
  }, 120_000);
});
