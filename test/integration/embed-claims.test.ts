/**
 * Chunk-hash claims are leases: renewed while their owner works, however
 * long it waits for the shared budget, and lapsing after the owner's
 * process dies. Real Redis, a real child process killed with SIGKILL, and
 * two real embed jobs racing on the same hashes against the emulator.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HashClaims } from '../../src/embed/claims.ts';
import { startEmulator, type RunningEmulator } from '@sluice/openai-emulator';
import { waitForRun } from '../../src/ingest/ingest.ts';
import { newRunId } from '../../src/runs/tracker.ts';
import { REPO_ROOT } from '../helpers/cli.ts';
import { openTestRuntime, type TestRuntime } from '../helpers/runtime.ts';
import { seedDocuments } from '../helpers/seed.ts';
import { isolate, requireRedis, TEST_REDIS_URL, type TestIsolation } from '../helpers/services.ts';

const TTL_MS = 300;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('HashClaims leases (real Redis)', () => {
  let redis: Redis;
  let iso: TestIsolation;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    await requireRedis();
    iso = isolate({}, { postgres: false });
    redis = new Redis(TEST_REDIS_URL);
  });

  afterAll(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    redis?.disconnect();
    await iso?.cleanup();
  });

  it('a held claim outlives its TTL; a released one is free at once', async () => {
    const claims = new HashClaims(redis, iso.prefix, TTL_MS);
    expect((await claims.claim('s', 'a', ['h1', 'h2'])).mine).toEqual(['h1', 'h2']);
    const lease = claims.hold('s', 'a', ['h1', 'h2']);
    await sleep(TTL_MS * 4);
    expect(await claims.claim('s', 'b', ['h1', 'h2'])).toEqual({ mine: [], others: ['h1', 'h2'] });
    lease.stop();
    await claims.release('s', 'a', ['h1', 'h2']);
    expect((await claims.claim('s', 'b', ['h1', 'h2'])).mine).toEqual(['h1', 'h2']);
  });

  it('an unrenewed claim lapses after its TTL', async () => {
    const claims = new HashClaims(redis, iso.prefix, TTL_MS);
    await claims.claim('s', 'a', ['h3']);
    await sleep(TTL_MS + 100);
    expect((await claims.claim('s', 'b', ['h3'])).mine).toEqual(['h3']);
  });

  it('reports claims another owner took while held', async () => {
    const claims = new HashClaims(redis, iso.prefix, TTL_MS);
    await claims.claim('s', 'a', ['h4', 'h5']);
    const lost: number[] = [];
    const lease = claims.hold('s', 'a', ['h4', 'h5'], (n) => lost.push(n));
    await redis.set(`${iso.prefix}:claim:s:h5`, 'b', 'PX', 10_000);
    await sleep(TTL_MS);
    lease.stop();
    expect(lost).toEqual([1]);
  });

  it('a SIGKILLed owner stops renewing: its claims lapse and another owner takes them over', async () => {
    // The owner is a real process holding real claims.
    const script = `
      import { Redis } from 'ioredis';
      import { HashClaims } from ${JSON.stringify(path.join(REPO_ROOT, 'src/embed/claims.ts'))};
      const claims = new HashClaims(new Redis(${JSON.stringify(TEST_REDIS_URL)}), ${JSON.stringify(iso.prefix)}, ${TTL_MS});
      const { mine } = await claims.claim('k', 'child', ['x1', 'x2']);
      claims.hold('k', 'child', mine);
      process.stdout.write('held ' + mine.length + '\\n');
      setInterval(() => {}, 1000);
    `;
    child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const line = await new Promise<string>((resolve, reject) => {
      child!.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim()));
      child!.once('exit', (code) => reject(new Error(`claim holder exited with ${code}`)));
    });
    expect(line).toBe('held 2');
    const claims = new HashClaims(redis, iso.prefix, TTL_MS);
    await sleep(TTL_MS * 4);
    expect((await claims.claim('k', 'other', ['x1', 'x2'])).others).toEqual(['x1', 'x2']);

    child.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
    await sleep(TTL_MS + 100);
    expect((await claims.claim('k', 'other', ['x1', 'x2'])).mine).toEqual(['x1', 'x2']);
  });
});

describe('two embed jobs on the same hashes, the owner waiting for budget longer than the claim TTL', () => {
  const WINDOW_MS = 1500;
  const TPM = 100_000;
  let emu: RunningEmulator;
  let t: TestRuntime;

  beforeAll(async () => {
    emu = await startEmulator({ rpm: 100_000, tpm: 100_000_000 });
    t = await openTestRuntime({
      OPENAI_BASE_URL: emu.url,
      OPENAI_API_KEY: 'test-key',
      EMBEDDING_TPM: String(TPM),
      EMBEDDING_RATE_WINDOW_MS: String(WINDOW_MS),
      EMBED_CLAIM_TTL_MS: String(TTL_MS),
    });
  });

  afterAll(async () => {
    await t?.close();
    await emu?.close();
  });

  it('embeds each chunk once: the owner keeps its claims while it waits', async () => {
    const [doc] = await seedDocuments(t.rt.db.pool, 'claims', 1, 8);
    const runId = newRunId();
    const { model, dimensions } = t.rt.config.embedding;
    const payload = { runId, collection: 'claims', source: doc!.uri, model, dimensions, chunkHashes: doc!.hashes };
    // Someone else used the whole window just now: the first job's request
    // waits ~WINDOW_MS for the budget, five TTLs, while the second polls.
    const budget = t.rt.context.embedder.options.budget!;
    expect((await budget.tryReserve(TPM)).granted).toBe(true);
    emu.reset();
    await t.rt.producer.add(
      'embed',
      [0, 1].map((i) => ({ jobId: `embed-${runId}-${i}`, payload })),
      runId,
    );

    const progress = await waitForRun(t.rt, runId, { pollMs: 100 });
    expect(progress.failed).toBe(0);
    const stats = emu.stats();
    expect(stats.inputsAccepted).toBe(doc!.hashes.length);
    expect(stats.tokensAccepted).toBe(doc!.tokens);
    const { rows } = await t.rt.db.pool.query(`SELECT count(*)::int AS n FROM embeddings`);
    expect(rows[0].n).toBe(doc!.hashes.length);
  });
});
