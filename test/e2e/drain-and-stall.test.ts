/**
 * Worker processes (the real `sluice worker embed`) under a deep budget
 * backlog, against a redis-server of the test's own, PostgreSQL + pgvector
 * and the emulator over HTTP:
 * - SIGTERM: the process exits within SHUTDOWN_TIMEOUT_MS, no job failed for
 *   it, its claims are released (nothing left for another process to wait
 *   out), and another process finishes the run;
 * - a delivery SIGSTOPped past its lock and claims beside its redelivery in
 *   another process, then continued: the emulator billed every input once.
 * After each, the ledger's billed tokens equal the emulator's.
 */
import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '@sluice/openai-emulator';
import { loadConfig } from '../../src/config/config.ts';
import { newRunId, RunTracker, type RunProgress } from '../../src/runs/tracker.ts';
import { Producer } from '../../src/queue/producer.ts';
import { closeQueues, createQueues } from '../../src/queue/queues.ts';
import { runCli, spawnCli } from '../helpers/cli.ts';
import { startOwnRedis, type OwnRedis } from '../helpers/redis-server.ts';
import { seedDocuments } from '../helpers/seed.ts';
import { isolate, requirePostgres, TEST_DATABASE_URL, type TestIsolation } from '../helpers/services.ts';
import { until } from '../helpers/wait.ts';

const SHUTDOWN_TIMEOUT_MS = 15_000;

let redisSrv: OwnRedis;
let emu: RunningEmulator;
let redis: Redis;
let db: pg.Pool;
const children: ChildProcess[] = [];

interface Env {
  iso: TestIsolation;
  env: Record<string, string>;
  tracker: RunTracker;
}

function setup(extra: Record<string, string> = {}): Env {
  const iso = isolate({
    LOG_LEVEL: 'warn',
    REDIS_URL: redisSrv.url,
    OPENAI_BASE_URL: emu.url,
    OPENAI_API_KEY: 'test-key',
    // A deep backlog: 6,000 tokens per 2 s window; 128 active jobs of ~560
    // tokens each need ~24 s of budget, more than SHUTDOWN_TIMEOUT_MS.
    EMBEDDING_TPM: '6000',
    EMBEDDING_RPM: '1000',
    EMBEDDING_RATE_WINDOW_MS: '2000',
    EMBEDDING_COALESCE_MS: '0',
    EMBED_CONCURRENCY: '128',
    EMBED_CLAIM_TTL_MS: '5000',
    JOB_LOCK_MS: '8000',
    OPENAI_TIMEOUT_MS: '5000',
    SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
    DEPENDENCY_PROBE_MS: '500',
    ...extra,
  });
  return { iso, env: iso.env, tracker: new RunTracker(redis, iso.prefix) };
}

function startWorker(env: Record<string, string>): { child: ChildProcess; stderr: () => string } {
  const child = spawnCli(['worker', 'embed'], env);
  children.push(child);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout!.resume();
  return { child, stderr: () => err };
}

async function seedAndEnqueue(e: Env, collection: string, docs: number): Promise<{ runId: string; chunks: number }> {
  const migrated = await runCli(['migrate'], e.env);
  expect(migrated.code, migrated.stderr).toBe(0);
  const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, options: `-c search_path=${e.iso.schema},public` });
  try {
    const seeded = await seedDocuments(pool, collection, docs, 4, 90);
    const config = loadConfig(e.env);
    const queues = createQueues(config, redis);
    const producer = new Producer(queues, e.tracker, { connection: redis, prefix: e.iso.prefix });
    const runId = newRunId();
    await e.tracker.start(runId, { collection });
    const { model, dimensions } = config.embedding;
    await producer.add(
      'embed',
      seeded.map((d, i) => ({
        jobId: `embed-${runId}-${i}`,
        payload: { runId, collection, source: d.uri, model, dimensions, chunkHashes: d.hashes },
      })),
      runId,
    );
    await closeQueues(queues);
    return { runId, chunks: seeded.reduce((s, d) => s + d.hashes.length, 0) };
  } finally {
    await pool.end();
  }
}

async function runDone(e: Env, runId: string, timeoutMs: number): Promise<RunProgress> {
  return until(
    async () => {
      const p = await e.tracker.progress(runId);
      return p.jobs > 0 && p.finished >= p.jobs ? p : undefined;
    },
    `run ${runId} to finish`,
    timeoutMs,
  );
}

async function billedInLedger(schema: string): Promise<{ billed: number; sent: number }> {
  const { rows } = await db.query<{ billed: number; sent: number }>(
    `SELECT coalesce(sum(tokens) FILTER (WHERE status = 'billed'), 0)::int AS billed,
            coalesce(sum(tokens) FILTER (WHERE status = 'sent'), 0)::int AS sent FROM "${schema}".cost_ledger`,
  );
  return rows[0]!;
}

async function embeddingsOf(schema: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".embeddings`);
  return rows[0]!.n;
}

async function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  return new Promise((r) => child.once('exit', (code) => r(code)));
}

beforeAll(async () => {
  await requirePostgres();
  redisSrv = await startOwnRedis();
  emu = await startEmulator({ tpm: 6000, rpm: 1000, windowMs: 2000, seed: 5 });
  redis = new Redis(redisSrv.url, { maxRetriesPerRequest: 1 });
  db = new pg.Pool({ connectionString: TEST_DATABASE_URL });
}, 60_000);

afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGCONT');
      c.kill('SIGKILL');
      await exited(c);
    }
  }
});

afterAll(async () => {
  redis?.disconnect();
  await db?.end();
  await redisSrv?.close();
  await emu?.close();
});

describe('a worker process under a deep budget backlog', () => {
  it('SIGTERM: exits within SHUTDOWN_TIMEOUT_MS, fails no job, releases its claims', async () => {
    const e = setup();
    try {
      emu.reset();
      const { runId, chunks } = await seedAndEnqueue(e, 'drain', 150);
      const a = startWorker(e.env);
      await until(
        async () => ((await e.tracker.progress(runId)).finished >= 3 ? true : undefined),
        '3 jobs done',
        60_000,
      );
      const before = await e.tracker.progress(runId);
      expect(before.finished).toBeLessThan(before.jobs - 100); // many jobs still wait for the budget
      const t0 = Date.now();
      a.child.kill('SIGTERM');
      const code = await exited(a.child);
      const ms = Date.now() - t0;
      console.log(`drain: exit ${code} after ${ms} ms with ${before.jobs - before.finished} jobs unfinished`);
      expect(code, a.stderr()).toBe(0); // drained, not cut off by the deadline (exit 1)
      expect(ms).toBeLessThan(SHUTDOWN_TIMEOUT_MS);
      // No claim left behind: another process can take every hash at once.
      expect(await redis.keys(`${e.iso.prefix}:claim:*`)).toEqual([]);
      const after = await e.tracker.progress(runId);
      expect(after.failed).toBe(0);

      const b = startWorker(e.env);
      const done = await runDone(e, runId, 180_000);
      expect(done.failed, b.stderr()).toBe(0);
      expect(await embeddingsOf(e.iso.schema)).toBe(chunks);
      const stats = emu.stats();
      console.log(
        `drain, then another process: ${stats.requests.total} requests, ${stats.inputsAccepted} inputs for ${chunks} chunks, ${stats.tokensAccepted} tokens`,
      );
      expect(stats.inputsAccepted).toBe(chunks); // every input paid once
      expect(await billedInLedger(e.iso.schema)).toEqual({ billed: stats.tokensAccepted, sent: 0 });
    } finally {
      await e.iso.cleanup();
    }
  }, 300_000);

  it('a delivery SIGSTOPped past its lock beside its redelivery: every input billed once', async () => {
    // One request at a time (one per 300 ms window): a SIGSTOP then almost
    // surely lands while A's deliveries wait for the budget, not while a
    // request of A's is on the wire (that one is paid, and its response lost
    // with the stopped process: no lease can undo a request already sent).
    const e = setup({ EMBEDDING_RPM: '1', EMBEDDING_TPM: '1000', EMBEDDING_RATE_WINDOW_MS: '300' });
    try {
      emu.reset();
      emu.configure({ rpm: 2, tpm: 1200, windowMs: 300 });
      const { runId, chunks } = await seedAndEnqueue(e, 'stall', 40);
      const a = startWorker(e.env);
      await until(
        async () => ((await e.tracker.progress(runId)).finished >= 3 ? true : undefined),
        '3 jobs done',
        60_000,
      ).catch((err: unknown) => {
        throw new Error(`${String(err)}: ${a.stderr().slice(-2000)}`);
      });
      // Freeze A with its jobs waiting for the budget; B redelivers them once their locks and claims lapse.
      a.child.kill('SIGSTOP');
      const b = startWorker(e.env);
      await until(
        async () => ((await e.tracker.progress(runId)).finished >= 10 ? true : undefined),
        'B at work',
        60_000,
      );
      a.child.kill('SIGCONT'); // A wakes up with its old deliveries
      const done = await runDone(e, runId, 240_000);
      expect(done.failed, `${a.stderr()}\n${b.stderr()}`).toBe(0);
      expect(await embeddingsOf(e.iso.schema)).toBe(chunks);
      const stats = emu.stats();
      console.log(
        `stall: ${stats.requests.total} requests, ${stats.inputsAccepted} inputs for ${chunks} chunks, ${stats.tokensAccepted} tokens`,
      );
      expect(stats.inputsAccepted).toBe(chunks); // billed once, although two deliveries ran
      const ledger = await billedInLedger(e.iso.schema);
      expect(ledger.billed + ledger.sent).toBe(stats.tokensAccepted);
    } finally {
      emu.configure({ rpm: 1000, tpm: 6000, windowMs: 2000 });
      await e.iso.cleanup();
    }
  }, 360_000);
});
