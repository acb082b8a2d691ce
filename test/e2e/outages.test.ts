/**
 * Worker processes (the real `sluice worker` CLI) through dependency outages,
 * against services the test starts itself — never the machine's shared ones:
 * a redis-server with AOF on a port of its own, a TCP proxy of its own in
 * front of PostgreSQL + pgvector, the emulator over HTTP, and PostgreSQL's
 * HTML manual served on loopback.
 * - Redis stopped for 10 s under a backlog of crawl and embed jobs: every job
 *   completes, none failed or burned an attempt, no worker restarted, and
 *   `/readyz` was red (and `sluice_waiting_for_dependency{dependency="redis"}`
 *   1) while Redis was down.
 * - PostgreSQL unreachable for 45 s (the proxy refuses connections): no job
 *   fails, work resumes by itself.
 * - Blocking connections killed (`CLIENT KILL`): the workers fetch again; and
 *   a worker that cannot fetch (`CLIENT PAUSE WRITE`) turns `/readyz` red
 *   instead of looking healthy while idle.
 */
import type { ChildProcess } from 'node:child_process';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '@sluice/openai-emulator';
import { RunTracker, type RunProgress } from '../../src/runs/tracker.ts';
import { runCli, spawnCli } from '../helpers/cli.ts';
import { freePort, startOwnRedis, type OwnRedis } from '../helpers/redis-server.ts';
import { isolate, requirePostgres, TEST_DATABASE_URL, type TestIsolation } from '../helpers/services.ts';
import { PG_MANUAL_DIR, requireManual, serveDirectory, type StaticServer } from '../helpers/static-server.ts';
import { startDatabaseProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { until } from '../helpers/wait.ts';

interface WorkerProc {
  child: ChildProcess;
  pid: number;
  metricsPort: number;
  stderr: () => string;
}

interface Ready {
  status: number;
  body: { ok: boolean; checks: Record<string, string> };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let redisSrv: OwnRedis;
let proxy: TcpProxy;
let emu: RunningEmulator;
let site: StaticServer;
let iso: TestIsolation;
let env: Record<string, string>;
let redis: Redis;
let tracker: RunTracker;
let queues: Record<'crawl' | 'embed', Queue>;
const workers: WorkerProc[] = [];

async function readyz(w: WorkerProc): Promise<Ready> {
  if (w.child.exitCode !== null || w.child.signalCode !== null)
    throw new Error(`worker ${w.pid} exited (${w.child.exitCode ?? w.child.signalCode}):\n${w.stderr().slice(-3000)}`);
  const res = await fetch(`http://127.0.0.1:${w.metricsPort}/readyz`, { signal: AbortSignal.timeout(10_000) }).catch(
    async (err: unknown) => {
      await sleep(500);
      throw new Error(`worker ${w.pid} did not answer /readyz (${String(err)}):\n${w.stderr().slice(-3000)}`);
    },
  );
  return { status: res.status, body: (await res.json()) as Ready['body'] };
}

async function metric(w: WorkerProc, series: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${w.metricsPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function startWorker(): Promise<WorkerProc> {
  const metricsPort = await freePort();
  const child = spawnCli(['worker', 'crawl', 'embed'], { ...env, METRICS_PORT: String(metricsPort) });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout!.resume();
  return { child, pid: child.pid!, metricsPort, stderr: () => err };
}

/** Progress of a run, or undefined while Redis does not answer (the test's own client waits through outages too). */
async function progressOf(runId: string): Promise<RunProgress | undefined> {
  return tracker.progress(runId).catch(() => undefined);
}

async function enqueue(collection: string, start: string, maxPages: number): Promise<string> {
  const r = await runCli(
    ['enqueue', `${site.url}/${start}`, '--collection', collection, '--max-pages', String(maxPages), '--json'],
    env,
  );
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { runId: string }).runId;
}

async function runDone(runId: string, timeoutMs: number): Promise<RunProgress> {
  return until(
    async () => {
      const p = await progressOf(runId);
      return p && p.jobs > 0 && p.finished >= p.jobs ? p : undefined;
    },
    `run ${runId} to finish`,
    timeoutMs,
  );
}

/** Jobs of a run in the failed sets, and jobs of the run that needed more than one attempt. */
async function failuresAndRetries(runId: string): Promise<{ failed: string[]; retried: string[] }> {
  const failed: string[] = [];
  const retried: string[] = [];
  for (const q of Object.values(queues)) {
    for (const j of await q.getFailed(0, -1)) if (j.data.runId === runId) failed.push(`${j.id}: ${j.failedReason}`);
    for (const j of await q.getCompleted(0, -1))
      if (j.data.runId === runId && j.attemptsMade > 1) retried.push(`${q.name} ${j.id}: ${j.attemptsMade} attempts`);
  }
  return { failed, retried };
}

/** Every chunk hash of the schema has its embedding. */
async function missingEmbeddings(): Promise<number> {
  const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await c.connect();
  try {
    const { rows } = await c.query<{ n: number }>(
      `SELECT count(DISTINCT c.chunk_hash)::int AS n FROM "${iso.schema}".chunks c
       WHERE NOT EXISTS (SELECT 1 FROM "${iso.schema}".embeddings e WHERE e.chunk_hash = c.chunk_hash)`,
    );
    return rows[0]!.n;
  } finally {
    await c.end();
  }
}

function expectWorkersNeverRestarted(): void {
  for (const w of workers) {
    expect(w.child.exitCode, w.stderr()).toBeNull();
    expect(w.child.signalCode).toBeNull();
  }
}

beforeAll(async () => {
  requireManual();
  await requirePostgres();
  redisSrv = await startOwnRedis();
  let databaseUrl: string;
  ({ proxy, databaseUrl } = await startDatabaseProxy());
  // Some latency, so that embedding keeps a backlog while the outages start.
  emu = await startEmulator({ rpm: 100_000, tpm: 100_000_000, seed: 3, latencyMs: 150 });
  site = await serveDirectory(PG_MANUAL_DIR);
  iso = isolate({
    LOG_LEVEL: 'warn',
    REDIS_URL: redisSrv.url,
    DATABASE_URL: databaseUrl,
    OPENAI_BASE_URL: emu.url,
    OPENAI_API_KEY: 'test-key',
    EMBEDDING_RPM: '100000',
    EMBEDDING_TPM: '100000000',
    CRAWL_CONCURRENCY: '4',
    EMBED_CONCURRENCY: '8',
    DEPENDENCY_PROBE_MS: '500',
    READY_FETCH_STALL_MS: '12000',
  });
  env = iso.env;
  redis = new Redis(redisSrv.url, { maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  tracker = new RunTracker(redis, iso.prefix);
  queues = {
    crawl: new Queue('crawl', { connection: redis, prefix: iso.prefix }),
    embed: new Queue('embed', { connection: redis, prefix: iso.prefix }),
  };
  for (const q of Object.values(queues)) q.on('error', () => {}); // Redis is stopped on purpose

  // Migrate once, so the two workers do not both start with it.
  const migrated = await runCli(['migrate'], env);
  expect(migrated.code, migrated.stderr).toBe(0);
  workers.push(await startWorker(), await startWorker());
  for (const w of workers)
    await until(
      async () => ((await readyz(w).catch(() => undefined))?.status === 200 ? true : undefined),
      'ready',
      60_000,
    );
}, 120_000);

afterAll(async () => {
  for (const w of workers) {
    if (w.child.exitCode === null && w.child.signalCode === null) {
      const exited = new Promise((r) => w.child.once('exit', r));
      w.child.kill('SIGKILL');
      await exited;
    }
  }
  for (const q of Object.values(queues ?? {})) await q.close().catch(() => {});
  redis?.disconnect();
  await redisSrv?.close();
  await proxy?.close();
  await emu?.close();
  await site?.close();
  await iso?.cleanup();
});

describe('worker processes through dependency outages', () => {
  it('Redis down for 10 s under a backlog: every job completes, none failed or retried, /readyz red meanwhile', async () => {
    const runId = await enqueue('redis-outage', 'index.html', 250);
    await until(async () => ((await progressOf(runId))?.finished ?? 0) >= 30 || undefined, '30 jobs done', 120_000);
    const before = (await progressOf(runId))!;
    expect(before.finished, 'the outage must start under a backlog').toBeLessThan(before.jobs);

    const stoppedAt = Date.now();
    await redisSrv.stop();
    // Each worker says it waits for Redis: /readyz red, the gauge at 1, /healthz still alive.
    for (const w of workers) {
      const red = await until(
        async () => {
          const r = await readyz(w);
          return r.status === 503 && r.body.checks.redis !== 'ok' ? r : undefined;
        },
        'readyz red while Redis is down',
        8_000,
      );
      expect(red.body.checks.redis).toMatch(/^down for/);
      expect(await metric(w, 'sluice_waiting_for_dependency{dependency="redis"}')).toBe(1);
      expect((await fetch(`http://127.0.0.1:${w.metricsPort}/healthz`)).status).toBe(200);
    }
    await sleep(Math.max(0, stoppedAt + 10_000 - Date.now()));
    await redisSrv.start();

    const done = await runDone(runId, 240_000);
    console.log(
      `redis outage: ${before.finished} of ${before.jobs} jobs done when Redis stopped for ${Date.now() - stoppedAt > 0 ? 10 : 0} s; run ended with ${done.finished} of ${done.jobs}, ${done.failed} failed`,
    );
    expect(done.failed).toBe(0);
    expect(await tracker.failures(runId)).toEqual([]);
    expect(await failuresAndRetries(runId)).toEqual({ failed: [], retried: [] });
    expect(await missingEmbeddings()).toBe(0);
    expectWorkersNeverRestarted();
    for (const w of workers) {
      await until(async () => ((await readyz(w)).status === 200 ? true : undefined), 'readyz green again', 15_000);
      expect(await metric(w, 'sluice_waiting_for_dependency{dependency="redis"}')).toBe(0);
    }
  }, 400_000);

  it('PostgreSQL unreachable for 45 s: no job fails, work resumes by itself', async () => {
    const runId = await enqueue('pg-outage', 'sql-commands.html', 200);
    await until(async () => ((await progressOf(runId))?.finished ?? 0) >= 20 || undefined, '20 jobs done', 120_000);
    const before = (await progressOf(runId))!;
    expect(before.finished, 'the outage must start under a backlog').toBeLessThan(before.jobs);

    await proxy.refuse();
    const refusedAt = Date.now();
    for (const w of workers) {
      const red = await until(
        async () => {
          const r = await readyz(w);
          return r.status === 503 && r.body.checks.postgres !== 'ok' ? r : undefined;
        },
        'readyz red while Postgres is unreachable',
        10_000,
      );
      expect(red.body.checks.postgres).toMatch(/^down for/);
      expect(red.body.checks.redis).toBe('ok');
    }
    await sleep(Math.max(0, refusedAt + 45_000 - Date.now()));
    const during = (await progressOf(runId))!;
    expect(during.failed, 'no job fails during the outage').toBe(0);
    await proxy.accept();

    const done = await runDone(runId, 240_000);
    console.log(
      `postgres outage: ${before.finished} of ${before.jobs} jobs done when the proxy started refusing for 45 s; run ended with ${done.finished} of ${done.jobs}, ${done.failed} failed`,
    );
    expect(done.failed).toBe(0);
    expect(await failuresAndRetries(runId)).toEqual({ failed: [], retried: [] });
    expect(await missingEmbeddings()).toBe(0);
    expectWorkersNeverRestarted();
    for (const w of workers)
      await until(async () => ((await readyz(w)).status === 200 ? true : undefined), 'readyz green again', 15_000);
  }, 400_000);

  it('blocking connections killed: the workers fetch again; a worker that cannot fetch is not ready', async () => {
    const blocking = async () =>
      ((await redis.call('CLIENT', 'LIST')) as string)
        .split('\n')
        .filter((l) => / cmd=bzpopmin/.test(l))
        .map((l) => /(?:^| )id=(\d+)/.exec(l)![1]!);
    // Idle workers block in BZPOPMIN (one connection per worker per queue).
    const ids = await until(
      async () => ((await blocking()).length >= 2 ? blocking() : undefined),
      'blocking reads',
      20_000,
    );
    for (const id of ids) await redis.call('CLIENT', 'KILL', 'ID', id);
    const runId = await enqueue('after-kill', 'tutorial.html', 10);
    const done = await runDone(runId, 60_000);
    expect(done.failed).toBe(0);
    for (const w of workers) expect((await readyz(w)).status).toBe(200);

    // Now a fetch that cannot return: writes paused (BZPOPMIN and BullMQ's scripts are writes, PING is not).
    await redis.call('CLIENT', 'PAUSE', '40000', 'WRITE');
    try {
      for (const w of workers) {
        const red = await until(
          async () => {
            const r = await readyz(w);
            return r.status === 503 ? r : undefined;
          },
          'readyz red while the worker cannot fetch',
          35_000,
        );
        expect(red.body.checks.redis).toBe('ok');
        expect(Object.values(red.body.checks).join(' ')).toMatch(/not fetching/);
      }
    } finally {
      await redis.call('CLIENT', 'UNPAUSE');
    }
    for (const w of workers)
      await until(async () => ((await readyz(w)).status === 200 ? true : undefined), 'readyz green again', 30_000);
    expectWorkersNeverRestarted();
  }, 200_000);
});
