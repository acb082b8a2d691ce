/**
 * A worker process (the real `sluice worker` CLI) started while its
 * dependencies are down — as a supervisor restarts one during an outage —
 * waits for them instead of exiting: alive (`/healthz` 200), not ready
 * (`/readyz` 503 naming what it waits for), and working once they answer.
 * A SIGTERM during the wait exits 0 at once; past `STARTUP_WAIT_MS` it exits 2.
 * Against a redis-server and a TCP proxy before PostgreSQL of the test's own.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '@sluice/openai-emulator';
import { RunTracker } from '../../src/runs/tracker.ts';
import { Redis } from 'ioredis';
import { runCli, spawnCli } from '../helpers/cli.ts';
import { freePort, startOwnRedis, type OwnRedis } from '../helpers/redis-server.ts';
import { isolate, requirePostgres, type TestIsolation } from '../helpers/services.ts';
import { startDatabaseProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { until } from '../helpers/wait.ts';

let redisSrv: OwnRedis;
let proxy: TcpProxy;
let emu: RunningEmulator;
let iso: TestIsolation;
const children: ChildProcess[] = [];

interface Probe {
  status: number;
  body: { ok?: boolean; checks?: Record<string, string> };
}

async function get(port: number, path: string): Promise<Probe | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    return { status: res.status, body: path === '/readyz' ? (JSON.parse(text) as Probe['body']) : {} };
  } catch {
    return undefined;
  }
}

function startWorker(env: Record<string, string>, port: number) {
  const child = spawnCli(['worker', 'crawl', 'embed'], { ...env, METRICS_PORT: String(port) });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout!.resume();
  const exited = new Promise<{ code: number | null; at: number }>((r) =>
    child.once('exit', (code) => r({ code, at: Date.now() })),
  );
  return { child, exited, stderr: () => stderr };
}

beforeAll(async () => {
  await requirePostgres();
  redisSrv = await startOwnRedis();
  let databaseUrl: string;
  ({ proxy, databaseUrl } = await startDatabaseProxy());
  emu = await startEmulator({ seed: 5 });
  iso = isolate({
    LOG_LEVEL: 'warn',
    REDIS_URL: redisSrv.url,
    DATABASE_URL: databaseUrl,
    OPENAI_BASE_URL: emu.url,
    OPENAI_API_KEY: 'test-key',
  });
  const migrated = await runCli(['migrate'], iso.env);
  expect(migrated.code, migrated.stderr).toBe(0);
}, 120_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await redisSrv?.close();
  await proxy?.close();
  await emu?.close();
  await iso?.cleanup();
});

describe('a worker started during an outage', () => {
  it('waits for PostgreSQL, alive but not ready, then works', async () => {
    await proxy.refuse();
    const port = await freePort();
    const w = startWorker(iso.env, port);
    const waiting = await until(async () => {
      const r = await get(port, '/readyz');
      return r?.status === 503 && r.body.checks?.startup?.startsWith('waiting for postgres') ? r : undefined;
    }, 'readyz to say it waits for postgres');
    expect(waiting.body.checks!.startup).toMatch(/Cannot reach Postgres/);
    expect((await get(port, '/healthz'))?.status).toBe(200);
    // Longer than the first retries: it is still there, still waiting.
    await new Promise((r) => setTimeout(r, 4000));
    expect(w.child.exitCode, w.stderr()).toBeNull();

    await proxy.accept();
    await until(async () => ((await get(port, '/readyz'))?.status === 200 ? true : undefined), 'ready', 30_000);
    // It works: an inline document is crawled and embedded.
    const r = await runCli(
      ['enqueue', '{"id":"doc-1","markdown":"# Started late\\n\\nIt waited."}', '--json'],
      iso.env,
    );
    expect(r.code, r.stderr).toBe(0);
    const runId = (JSON.parse(r.stdout) as { runId: string }).runId;
    const redis = new Redis(redisSrv.url);
    try {
      const tracker = new RunTracker(redis, iso.prefix);
      const p = await until(async () => {
        const pr = await tracker.progress(runId);
        return pr.jobs > 0 && pr.finished >= pr.jobs ? pr : undefined;
      }, 'the run');
      expect(p.failed).toBe(0);
    } finally {
      redis.disconnect();
    }
    w.child.kill('SIGTERM');
    expect((await w.exited).code, w.stderr()).toBe(0);
  }, 90_000);

  it('waits for Redis; a SIGTERM during the wait exits 0 at once', async () => {
    await redisSrv.stop();
    try {
      const port = await freePort();
      const w = startWorker(iso.env, port);
      await until(async () => {
        const r = await get(port, '/readyz');
        return r?.body.checks?.startup?.startsWith('waiting for redis') ? true : undefined;
      }, 'readyz to say it waits for redis');
      const sent = Date.now();
      w.child.kill('SIGTERM');
      const { code, at } = await w.exited;
      expect(code, w.stderr()).toBe(0);
      expect(at - sent).toBeLessThan(10_000);
    } finally {
      await redisSrv.start();
    }
  }, 60_000);

  it('gives up after STARTUP_WAIT_MS with exit 2 and the reason', async () => {
    await proxy.refuse();
    try {
      const w = startWorker({ ...iso.env, STARTUP_WAIT_MS: '2000' }, await freePort());
      const { code } = await w.exited;
      expect(code).toBe(2);
      expect(w.stderr()).toMatch(/Cannot reach Postgres .* Waited \d+ s \(STARTUP_WAIT_MS=2000\)/);
    } finally {
      await proxy.accept();
    }
  }, 60_000);
});
