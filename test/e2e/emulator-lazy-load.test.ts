/**
 * The emulator is loaded lazily: a process with OPENAI_API_KEY set never
 * resolves an emulator module (`@sluice/openai-emulator`, i.e.
 * packages/openai-emulator/…). Real child processes on Node 24 record every
 * module resolution (test/helpers/record-resolutions.ts). Positive control:
 * the same processes without a key do resolve the emulator, so a recorder
 * that saw nothing cannot pass the test.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, REPO_ROOT, type CliResult } from '../helpers/cli.ts';
import { isolate, requirePostgres, requireRedis, type TestIsolation } from '../helpers/services.ts';

const RECORDER = pathToFileURL(path.join(REPO_ROOT, 'test/helpers/record-resolutions.ts')).href;
const API_CHILD = path.join(REPO_ROOT, 'test/helpers/open-runtime-child.ts');

/** What betrays an emulator module: the package's name or its folder. */
const EMULATOR = /openai-emulator/;

let iso: TestIsolation;
let tmp: string;

beforeAll(async () => {
  await requireRedis();
  await requirePostgres();
  iso = isolate();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-resolutions-'));
});

afterAll(async () => {
  await iso?.cleanup();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** Runs `node --import <recorder> <args>`; returns its result and the resolutions, one `specifier\turl` a line. */
function runRecorded(
  name: string,
  args: string[],
  env: Record<string, string>,
): Promise<CliResult & { resolutions: string[] }> {
  const log = path.join(tmp, `${name}.txt`);
  // A DATA_DIR of its own: in a shared one another process may already serve
  // the embedded emulator, and this one would join it over HTTP, loading nothing.
  const dataDir = path.join(tmp, `${name}-data`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', RECORDER, ...args], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/root',
        DATA_DIR: dataDir,
        ...env,
        RECORD_RESOLUTIONS_TO: log,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const resolutions = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
      resolve({ code, signal, stdout, stderr, resolutions });
    });
  });
}

const PROGRAMS: Array<{ name: string; args: () => string[] }> = [
  { name: 'sluice status --json', args: () => [CLI, 'status', '--json'] },
  { name: 'openRuntime through the `sluice` entry', args: () => [API_CHILD] },
];

describe.each(PROGRAMS)('$name', ({ name, args }) => {
  const slug = name.replace(/\W+/g, '-');

  it('with OPENAI_API_KEY set, resolves no emulator module', async () => {
    // The real API: a key, and no OPENAI_EMULATOR (isolate() asks for the emulator where a database is set).
    const r = await runRecorded(`${slug}-key`, args(), { ...iso.env, OPENAI_EMULATOR: '', OPENAI_API_KEY: 'sk-test' });
    expect(r.code, r.stderr).toBe(0);
    // The recorder saw the program (Sluice's runtime) load.
    expect(
      r.resolutions.some((l) => l.includes('/src/runtime/runtime.ts')),
      r.resolutions.join('\n'),
    ).toBe(true);
    expect(r.resolutions.filter((l) => EMULATOR.test(l))).toEqual([]);
  });

  it('without a key, does resolve the emulator (positive control)', async () => {
    const r = await runRecorded(`${slug}-nokey`, args(), iso.env);
    expect(r.code, r.stderr).toBe(0);
    const hits = r.resolutions.filter((l) => EMULATOR.test(l));
    expect(
      hits.some(
        (l) => l.startsWith('@sluice/openai-emulator\t') && l.includes('/packages/openai-emulator/src/index.ts'),
      ),
      hits.join('\n'),
    ).toBe(true);
  });
});
