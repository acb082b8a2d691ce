/**
 * Jobs whose worker process dies under them (the real `sluice worker` CLI,
 * SIGKILLed while the job waits on a slow page): each death is a stall, not
 * an attempt; past `JOB_MAX_STALLS` BullMQ fails the job without calling the
 * processor, and the worker records the failure in its run, so the run ends
 * naming it instead of waiting for a job that will never finish. Under the
 * limit, the same deaths cost nothing: the job completes.
 */
import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '@sluice/openai-emulator';
import { RunTracker } from '../../src/runs/tracker.ts';
import { runCli, spawnCli } from '../helpers/cli.ts';
import { isolate, requirePostgres, requireRedis, TEST_REDIS_URL, type TestIsolation } from '../helpers/services.ts';
import { until } from '../helpers/wait.ts';

let server: http.Server;
let base: string;
let emu: RunningEmulator;
let redis: Redis;
/** Requests for /slow.html so far. */
let slowRequests = 0;
/** How long /slow.html takes, ms. */
let slowMs = 120_000;
const isolations: TestIsolation[] = [];
const children: ChildProcess[] = [];

beforeAll(async () => {
  await requireRedis();
  await requirePostgres();
  server = http.createServer((req, res) => {
    if (req.url !== '/slow.html') return void res.writeHead(404).end();
    slowRequests++;
    const t = setTimeout(
      () =>
        res
          .writeHead(200, { 'content-type': 'text/html' })
          .end('<html><body><h1>Slow</h1><p>At last.</p></body></html>'),
      slowMs,
    );
    res.on('close', () => clearTimeout(t));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  emu = await startEmulator({ seed: 9 });
  redis = new Redis(TEST_REDIS_URL);
}, 60_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  redis?.disconnect();
  await emu?.close();
  await new Promise((r) => server?.close(r));
  for (const iso of isolations) await iso.cleanup();
});

async function setup(maxStalls: number) {
  const iso = isolate({
    LOG_LEVEL: 'warn',
    OPENAI_BASE_URL: emu.url,
    OPENAI_API_KEY: 'test-key',
    JOB_MAX_STALLS: String(maxStalls),
    JOB_LOCK_MS: '1000',
  });
  isolations.push(iso);
  const migrated = await runCli(['migrate'], iso.env);
  expect(migrated.code, migrated.stderr).toBe(0);
  const r = await runCli(['enqueue', `${base}/slow.html`, '--collection', 'slow', '--json'], iso.env);
  expect(r.code, r.stderr).toBe(0);
  return { iso, runId: (JSON.parse(r.stdout) as { runId: string }).runId };
}

function startWorker(env: Record<string, string>, queues = ['crawl']) {
  const child = spawnCli(['worker', ...queues], env);
  children.push(child);
  child.stdout!.resume();
  child.stderr!.resume();
  return child;
}

/** Starts a worker, waits until it is fetching the slow page, and SIGKILLs it. */
async function killWhileFetching(env: Record<string, string>): Promise<void> {
  const before = slowRequests;
  const w = startWorker(env);
  await until(async () => (slowRequests > before ? true : undefined), 'the worker to fetch the slow page');
  const gone = new Promise((r) => w.once('exit', r));
  w.kill('SIGKILL');
  await gone;
}

describe('jobs whose process dies under them', () => {
  it('past JOB_MAX_STALLS the job fails for good and its run records why', async () => {
    slowMs = 120_000;
    const { iso, runId } = await setup(1);
    await killWhileFetching(iso.env); // stall 1: back to the queue
    await killWhileFetching(iso.env); // stall 2: over the limit of 1
    startWorker(iso.env); // finds it stalled once more than allowed: BullMQ fails it
    const tracker = new RunTracker(redis, iso.prefix);
    const p = await until(async () => {
      const pr = await tracker.progress(runId);
      return pr.jobs > 0 && pr.finished >= pr.jobs ? pr : undefined;
    }, 'the run to end');
    expect(p.failed).toBe(1);
    const [failure] = await tracker.failures(runId);
    expect(failure!.error).toMatch(
      /job stalled more than allowable limit: its process died or stopped past its lock on 2 deliveries \(JOB_MAX_STALLS=1\)/,
    );
    const q = new Queue('crawl', { connection: redis, prefix: iso.prefix });
    try {
      const failed = await q.getFailed();
      expect(failed.map((j) => j.failedReason)).toEqual(['job stalled more than allowable limit']);
    } finally {
      await q.close();
    }
  }, 120_000);

  it('under the limit, the same deaths cost nothing: the job completes', async () => {
    slowMs = 120_000;
    const { iso, runId } = await setup(10);
    await killWhileFetching(iso.env);
    await killWhileFetching(iso.env);
    slowMs = 0;
    startWorker(iso.env, ['crawl', 'embed']);
    const tracker = new RunTracker(redis, iso.prefix);
    const p = await until(async () => {
      const pr = await tracker.progress(runId);
      return pr.jobs > 0 && pr.finished >= pr.jobs ? pr : undefined;
    }, 'the run to end');
    expect(p.failed).toBe(0);
  }, 120_000);
});
