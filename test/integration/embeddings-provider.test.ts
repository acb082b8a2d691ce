/**
 * No silent emulator, and embedding provenance (docs/design.md, "Embeddings
 * provider"): with DATABASE_URL set and no key the CLI exits 2 naming
 * OPENAI_API_KEY and OPENAI_EMULATOR; a database filled by the emulator
 * refuses a process configured for the real API, and the other way round.
 * The "real API" is the emulator over HTTP behind OPENAI_BASE_URL with a key,
 * as a proxy in front of OpenAI would be.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '@sluice/openai-emulator';
import { loadConfig } from '../../src/config/config.ts';
import { ProviderMismatchError } from '../../src/errors/index.ts';
import { ingest } from '../../src/ingest/ingest.ts';
import { createLogger } from '../../src/log/logger.ts';
import { openRuntime } from '../../src/runtime/runtime.ts';
import { runCli } from '../helpers/cli.ts';
import { openTestRuntime, type TestRuntime } from '../helpers/runtime.ts';

let emu: RunningEmulator;
const opened: TestRuntime[] = [];

beforeAll(async () => {
  emu = await startEmulator({ rpm: 100_000, tpm: 100_000_000, seed: 3 });
});

afterAll(async () => {
  for (const t of opened) await t.close();
  await emu?.close();
});

async function filled(extra: Record<string, string>): Promise<TestRuntime> {
  const t = await openTestRuntime({ OPENAI_BASE_URL: emu.url, ...extra });
  opened.push(t);
  const s = await ingest(t.rt, { collection: 'p', sources: [{ id: 'a', text: 'Provenance of vectors matters.' }] });
  expect(s.failed).toEqual([]);
  expect(s.chunksEmbedded).toBeGreaterThan(0);
  return t;
}

async function openWith(env: Record<string, string>): Promise<unknown> {
  const rt = await openRuntime(loadConfig(env), createLogger('silent'), { role: 'test' });
  await rt.close();
  return rt;
}

const REAL = { OPENAI_EMULATOR: '', OPENAI_API_KEY: 'sk-test' };

describe('no silent emulator', () => {
  it('exits 2 with DATABASE_URL set and no key, naming OPENAI_API_KEY and OPENAI_EMULATOR', async () => {
    const t = await openTestRuntime({ OPENAI_BASE_URL: emu.url }, { workers: false });
    opened.push(t);
    const r = await runCli(['status', '--json'], { ...t.iso.env, OPENAI_EMULATOR: '' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/OPENAI_API_KEY is not set and DATABASE_URL is/);
    expect(r.stderr).toMatch(/OPENAI_EMULATOR=true/);
  });
});

describe('the embeddings provider recorded in the database', () => {
  it('a database filled by the emulator refuses a process configured for the real API', async () => {
    const t = await filled({});
    const { rows } = await t.rt.db.pool.query<{ provider: string }>('SELECT provider FROM embeddings_provider');
    expect(rows).toEqual([{ provider: 'emulator' }]);
    const err = await openWith({ ...t.iso.env, ...REAL }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderMismatchError);
    expect((err as Error).message).toMatch(
      /holds embeddings from provider "emulator", but this process is configured for "openai"/,
    );
    expect((err as Error).message).toMatch(/DATABASE_SCHEMA/);
    // The CLI says the same and exits 2.
    const r = await runCli(['status', '--json'], { ...t.iso.env, ...REAL, OPENAI_BASE_URL: emu.url });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/provider "emulator"/);
  });

  it('a database filled through the real API refuses the emulator', async () => {
    const t = await filled({ OPENAI_API_KEY: 'sk-test' });
    const { rows } = await t.rt.db.pool.query<{ provider: string }>('SELECT provider FROM embeddings_provider');
    expect(rows).toEqual([{ provider: 'openai' }]);
    const err = await openWith({ ...t.iso.env, OPENAI_API_KEY: '', OPENAI_EMULATOR: 'true' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderMismatchError);
    expect((err as Error).message).toMatch(/provider "openai", but this process is configured for the OpenAI emulator/);
    // Another name for the real API is another provider too.
    const renamed = await openWith({ ...t.iso.env, EMBEDDINGS_PROVIDER: 'azure-eu' }).catch((e: unknown) => e);
    expect(renamed).toBeInstanceOf(ProviderMismatchError);
  });

  it('a database with no vectors yet follows the process', async () => {
    const t = await openTestRuntime({ OPENAI_BASE_URL: emu.url }, { workers: false });
    opened.push(t);
    await openWith({ ...t.iso.env, ...REAL });
    const { rows } = await t.rt.db.pool.query<{ provider: string }>('SELECT provider FROM embeddings_provider');
    expect(rows).toEqual([{ provider: 'openai' }]);
  });
});
