/**
 * `sluice ingest` (the real CLI, its workers in-process) whose run loses its
 * state in Redis, against services the test starts itself — never the
 * machine's shared Redis, which other tests use: redis-servers of its own
 * (one with AOF, one without persistence), the emulator over HTTP, and
 * PostgreSQL's HTML manual served on loopback.
 * - `FLUSHALL` during the run: exit 1 within 3 minutes, one line naming the
 *   lost run and what of it is gone.
 * - Redis restarted without persistence during the run: the same.
 * - Redis unreachable for 10 s (AOF keeps the keys): not a lost run; the
 *   ingest waits and finishes, exit 0.
 * (docs/design.md, "Runs that lose their state")
 */
import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '@sluice/openai-emulator';
import { RunTracker, type RunProgress } from '../../src/runs/tracker.ts';
import { spawnCli } from '../helpers/cli.ts';
import { startOwnRedis, type OwnRedis } from '../helpers/redis-server.ts';
import { isolate, requirePostgres, type TestIsolation } from '../helpers/services.ts';
import { PG_MANUAL_DIR, requireManual, serveDirectory, type StaticServer } from '../helpers/static-server.ts';
import { until } from '../helpers/wait.ts';

/** The bound the issue sets: a run that lost its state ends within this, ms. */
const LOST_RUN_DEADLINE_MS = 180_000;

interface IngestProc {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** One Redis of the test's own, with the clients the test reads it through. */
interface OwnStack {
  server: OwnRedis;
  redis: Redis;
  tracker: RunTracker;
  iso: TestIsolation;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let emu: RunningEmulator;
let site: StaticServer;
let aof: OwnStack;
let volatile: OwnStack;
const running: IngestProc[] = [];

async function ownStack(server: OwnRedis): Promise<OwnStack> {
  const iso = isolate({
    LOG_LEVEL: 'warn',
    REDIS_URL: server.url,
    OPENAI_BASE_URL: emu.url,
    OPENAI_API_KEY: 'test-key',
    EMBEDDING_RPM: '100000',
    EMBEDDING_TPM: '100000000',
    CRAWL_CONCURRENCY: '4',
    EMBED_CONCURRENCY: '8',
    DEPENDENCY_PROBE_MS: '500',
  });
  const redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
  redis.on('error', () => {}); // Redis is stopped on purpose
  return { server, redis, tracker: new RunTracker(redis, iso.prefix), iso };
}

function spawnIngest(stack: OwnStack, collection: string, start: string, maxPages: number): IngestProc {
  const child = spawnCli(
    ['ingest', `${site.url}/${start}`, '--collection', collection, '--max-pages', String(maxPages), '--json'],
    stack.iso.env,
  );
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const proc = { child, stdout: () => out, stderr: () => err, exited };
  running.push(proc);
  return proc;
}

/** The id of the one run of the stack's prefix, once the ingest recorded it. */
async function runIdOf(stack: OwnStack, proc: IngestProc): Promise<string> {
  return until(
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`ingest exited early:\n${proc.stderr().slice(-3000)}`);
      const keys = await stack.redis.keys(`${stack.iso.prefix}:run:*:meta`).catch(() => []);
      return keys[0]?.slice(`${stack.iso.prefix}:run:`.length, -':meta'.length);
    },
    'the ingest to record its run',
    60_000,
  );
}

/** Waits until `n` jobs of the run finished while others are still pending (a backlog). */
async function underBacklog(stack: OwnStack, proc: IngestProc, runId: string, n: number): Promise<RunProgress> {
  const p = await until(
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`ingest exited early:\n${proc.stderr().slice(-3000)}`);
      const p = await stack.tracker.progress(runId).catch(() => undefined);
      return p && p.finished >= n ? p : undefined;
    },
    `${n} jobs of run ${runId} done`,
    120_000,
  );
  expect(p.finished, 'the loss must hit a run with work left').toBeLessThan(p.jobs);
  return p;
}

/** The exit of the ingest, or undefined when it is still running after `ms`. */
async function exitWithin(proc: IngestProc, ms: number) {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<undefined>((r) => {
    timer = setTimeout(() => r(undefined), ms);
  });
  try {
    return await Promise.race([proc.exited, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** The lines the CLI itself printed (logs are JSON lines). */
function cliLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('sluice:'));
}

function expectLostRunReported(proc: IngestProc, runId: string, prefix: string): void {
  const lines = cliLines(proc.stderr());
  expect(lines, proc.stderr().slice(-3000)).toHaveLength(1);
  expect(lines[0]).toContain(`run ${runId}: its state is gone from Redis`);
  // The record always; the job lists too when fewer remain than the ingest saw (jobs still running write some back).
  expect(lines[0]).toMatch(/Redis: its record[,( ]/);
  expect(lines[0]).toContain(`(${prefix}:run:${runId}:*)`);
  expect(proc.stderr(), 'the message alone, no stack trace').not.toContain('RunStateLostError');
  expect(proc.stdout(), 'no summary for a run that did not finish').toBe('');
}

beforeAll(async () => {
  requireManual();
  await requirePostgres();
  // Some latency, so that embedding keeps a backlog while the loss happens.
  emu = await startEmulator({ rpm: 100_000, tpm: 100_000_000, seed: 5, latencyMs: 150 });
  site = await serveDirectory(PG_MANUAL_DIR);
  aof = await ownStack(await startOwnRedis());
  volatile = await ownStack(await startOwnRedis({ aof: false }));
}, 120_000);

afterEach(async () => {
  for (const p of running.splice(0)) {
    if (p.child.exitCode === null && p.child.signalCode === null) {
      p.child.kill('SIGKILL');
      await p.exited;
    }
  }
});

afterAll(async () => {
  for (const s of [aof, volatile]) {
    s?.redis.disconnect();
    await s?.server.close();
    await s?.iso.cleanup();
  }
  await emu?.close();
  await site?.close();
});

describe('ingest whose run loses its state in Redis', () => {
  it('FLUSHALL during ingest: exit 1 within 3 minutes, one line naming the lost run', async () => {
    const proc = spawnIngest(aof, 'flushed', 'index.html', 200);
    const runId = await runIdOf(aof, proc);
    const before = await underBacklog(aof, proc, runId, 15);

    await aof.redis.flushall();
    const flushedAt = Date.now();
    const exit = await exitWithin(proc, LOST_RUN_DEADLINE_MS);
    expect(exit, `ingest still running 3 minutes after FLUSHALL:\n${proc.stderr().slice(-3000)}`).toBeDefined();
    console.log(
      `FLUSHALL with ${before.finished} of ${before.jobs} jobs done: ingest exited ${exit!.code} after ${Math.round((Date.now() - flushedAt) / 100) / 10} s: ${cliLines(proc.stderr())[0]}`,
    );
    expect(exit!.code).toBe(1);
    expectLostRunReported(proc, runId, aof.iso.prefix);
  }, 400_000);

  it('Redis restarted without persistence during ingest: exit 1, one line naming the lost run', async () => {
    const proc = spawnIngest(volatile, 'restarted', 'index.html', 200);
    const runId = await runIdOf(volatile, proc);
    await underBacklog(volatile, proc, runId, 15);

    await volatile.server.stop();
    await sleep(3000); // unreachable for a while first: that alone must not end the run
    expect(proc.child.exitCode, `ingest ended while Redis was only unreachable:\n${proc.stderr()}`).toBeNull();
    await volatile.server.start();
    const restartedAt = Date.now();
    expect(await volatile.redis.exists(`${volatile.iso.prefix}:run:${runId}:meta`)).toBe(0);

    const exit = await exitWithin(proc, LOST_RUN_DEADLINE_MS);
    expect(exit, `ingest still running 3 minutes after the restart:\n${proc.stderr().slice(-3000)}`).toBeDefined();
    // A worker can stay closing after such a restart: the CLI then stops waiting for it after SHUTDOWN_TIMEOUT_MS.
    const closeCut = proc.stderr().includes('workers did not close within SHUTDOWN_TIMEOUT_MS');
    console.log(
      `restart without persistence: ingest exited ${exit!.code} ${Math.round((Date.now() - restartedAt) / 100) / 10} s after Redis answered again${closeCut ? ' (workers left closing)' : ''}`,
    );
    expect(exit!.code).toBe(1);
    expectLostRunReported(proc, runId, volatile.iso.prefix);
  }, 400_000);

  it('Redis unreachable for 10 s, its keys kept (AOF): not a lost run, the ingest finishes, exit 0', async () => {
    const proc = spawnIngest(aof, 'outage', 'sql-commands.html', 60);
    const runId = await runIdOf(aof, proc);
    await underBacklog(aof, proc, runId, 10);

    await aof.server.stop();
    await sleep(10_000);
    expect(proc.child.exitCode, `ingest ended while Redis was only unreachable:\n${proc.stderr()}`).toBeNull();
    await aof.server.start();

    const exit = await exitWithin(proc, 300_000);
    expect(exit, `ingest did not finish after the outage:\n${proc.stderr().slice(-3000)}`).toBeDefined();
    expect(exit!.code, proc.stderr().slice(-3000)).toBe(0);
    expect(cliLines(proc.stderr())).toEqual([]);
    const summary = JSON.parse(proc.stdout()) as { runId: string; failed: unknown[]; documents: number };
    expect(summary).toMatchObject({ runId, failed: [] });
    expect(summary.documents).toBeGreaterThan(10);
  }, 400_000);
});
