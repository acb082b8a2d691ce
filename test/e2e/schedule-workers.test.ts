/**
 * Schedules with real worker processes (the `sluice` CLI spawned as child
 * processes) against real Redis, PostgreSQL and the emulator:
 * - a schedule `--every 2s` fires on its own against a loopback site; the
 *   worker is SIGKILLed mid-run and restarted, the schedule keeps firing,
 *   and no tick has more than one run (the killed tick resumes its own);
 * - two worker processes upserting the same SCHEDULES_FILE leave one job
 *   scheduler; an entry removed from the file is removed at the next start,
 *   and a schedule added from the CLI survives.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TickResult } from '../../src/queue/contracts.ts';
import { tickRunId } from '../../src/queue/job-ids.ts';
import { ScheduleState } from '../../src/schedule/state.ts';
import { runCli, spawnCli } from '../helpers/cli.ts';
import { until } from '../helpers/wait.ts';
import { TEST_REDIS_URL, isolate, requirePostgres, requireRedis, type TestIsolation } from '../helpers/services.ts';

function startWorker(args: string[], env: Record<string, string>): { child: ChildProcess; stderr: () => string } {
  const child = spawnCli(['worker', ...args], env);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout!.resume();
  return { child, stderr: () => err };
}

async function stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await exited;
}

describe('a schedule every 2s with a worker process killed and restarted', () => {
  let iso: TestIsolation;
  let server: http.Server;
  let redis: Redis;
  let queue: Queue;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    await requireRedis();
    await requirePostgres();
    // A few pages; one takes 3 s, so a run outlasts the 2 s period and a tick is active when the worker dies.
    server = http.createServer((req, res) => {
      const page = (body: string) => res.writeHead(200, { 'content-type': 'text/html' }).end(body);
      if (req.url === '/docs/index.html')
        page(
          '<html><head><title>Home</title></head><body><h1>Home</h1><p>Widgets.</p><a href="a.html">a</a> <a href="b.html">b</a> <a href="slow.html">slow</a></body></html>',
        );
      else if (req.url === '/docs/a.html') page('<html><body><h1>A</h1><p>Page a.</p></body></html>');
      else if (req.url === '/docs/b.html') page('<html><body><h1>B</h1><p>Page b.</p></body></html>');
      else if (req.url === '/docs/slow.html')
        setTimeout(() => page('<html><body><h1>Slow</h1><p>A slow page.</p></body></html>'), 3000);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    iso = isolate({ LOG_LEVEL: 'warn' });
    redis = new Redis(TEST_REDIS_URL);
    queue = new Queue('schedule', { connection: redis, prefix: iso.prefix });
  });

  afterAll(async () => {
    for (const c of children) await stop(c, 'SIGKILL');
    await queue?.close();
    redis?.disconnect();
    await new Promise((r) => server?.close(r));
    await iso?.cleanup();
  });

  it('keeps firing, resumes the killed tick and never runs a tick twice', async () => {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/docs/index.html`;
    const add = await runCli(['schedule', 'add', 'site', url, '--collection', 'site', '--every', '2s'], iso.env);
    expect(add.code, add.stderr).toBe(0);
    const state = new ScheduleState(redis, iso.prefix);

    const first = startWorker(['crawl', 'embed', 'schedule'], iso.env);
    children.push(first.child);
    await until(async () => ((await state.status('site')).lastOutcome ? true : undefined), 'a first run', 90_000);
    // Kill the worker while a tick waits for its run.
    const killed = await until(async () => (await state.status('site')).activeTick, 'an active tick', 60_000);
    await stop(first.child, 'SIGKILL');
    const restartedAt = Date.now();
    const second = startWorker(['crawl', 'embed', 'schedule'], iso.env);
    children.push(second.child);

    // BullMQ hands the killed tick to the new worker once its lock expires (30 s); it must finish its own run.
    const killedJob = await until(
      async () => {
        // The state first, then the job: a job read before it completed has no return value yet.
        return (await queue.getJobState(killed)) === 'completed' ? await queue.getJob(killed) : undefined;
      },
      `the killed tick ${killed} to complete`,
      120_000,
    );
    expect(killedJob.returnvalue as TickResult, second.stderr()).toMatchObject({
      outcome: 'started',
      runId: tickRunId(killed),
    });
    // And the schedule goes on: a run of a tick fired after the restart finishes.
    await until(
      async () => {
        const st = await state.status('site');
        const job = st.lastTick ? await queue.getJob(st.lastTick) : undefined;
        return job && job.timestamp > restartedAt && st.lastOutcome === 'succeeded' ? true : undefined;
      },
      'a run started after the restart',
      60_000,
    );

    // Runs by tick: no tick started two runs.
    const runs = await state.runs('site');
    const byTick = new Map<string, string[]>();
    for (const [run, tick] of Object.entries(runs)) byTick.set(tick, [...(byTick.get(tick) ?? []), run]);
    const duplicates = [...byTick].filter(([, r]) => r.length > 1);
    expect(duplicates).toEqual([]);
    expect(byTick.get(killed)).toEqual([tickRunId(killed)]);
    const ticks = (await queue.getJobs(['completed'])).map((j) => j.returnvalue as TickResult);
    const started = ticks.filter((r) => r.outcome === 'started').length;
    const skipped = ticks.filter((r) => r.outcome === 'skipped').length;
    // Every started tick ran its own run, with the tick's id.
    expect(ticks.filter((r) => r.outcome === 'started').every((r) => runs[r.runId] !== undefined)).toBe(true);
    expect(skipped).toBeGreaterThan(0);
    console.log(
      `schedule every 2s: ${ticks.length} ticks completed (${started} started, ${skipped} skipped), ${Object.keys(runs).length} runs, killed tick ${killed} resumed`,
    );

    const list = await runCli(['schedule', 'list', '--json'], iso.env);
    expect(list.code, list.stderr).toBe(0);
    const [info] = JSON.parse(list.stdout);
    expect(info).toMatchObject({ name: 'site', every: 2000, intervalSeconds: 2, managedBy: 'api' });
    expect(Date.parse(info.nextRun)).toBeGreaterThan(restartedAt);
    expect(info.lastRunId).toMatch(/^tick-repeat-site-\d+$/);
    await stop(second.child);
  }, 300_000);
});

describe('SCHEDULES_FILE upserted by worker processes', () => {
  let iso: TestIsolation;
  let dir: string;
  let redis: Redis;
  let queue: Queue;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    await requireRedis();
    await requirePostgres();
    iso = isolate({ LOG_LEVEL: 'info' });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-schedules-'));
    redis = new Redis(TEST_REDIS_URL);
    queue = new Queue('schedule', { connection: redis, prefix: iso.prefix });
  });

  afterAll(async () => {
    for (const c of children) await stop(c, 'SIGKILL');
    await queue?.close();
    redis?.disconnect();
    await iso?.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function startBoth(env: Record<string, string>): Promise<void> {
    const workers = [startWorker(['schedule'], env), startWorker(['schedule'], env)];
    children.push(...workers.map((w) => w.child));
    await until(
      async () => (workers.every((w) => w.stderr().includes('workers started')) ? true : undefined),
      'both workers to start',
      60_000,
    );
    for (const w of workers) await stop(w.child);
  }

  it('two processes leave one scheduler per entry; a removed entry goes, a CLI schedule stays', async () => {
    const file = path.join(dir, 'schedules.yml');
    fs.writeFileSync(
      file,
      [
        'schedules:',
        '  - name: nightly',
        '    sources: [https://docs.example.com/]',
        '    collection: docs',
        '    cron: "0 3 * * *"',
        '    tz: Europe/Berlin',
        '  - name: local',
        '    sources: [./docs]',
        '    collection: local',
        '    cron: "30 4 * * *"',
        '    sink: both',
        '',
      ].join('\n'),
    );
    const cli = await runCli(
      ['schedule', 'add', 'by-hand', 'https://docs.example.com/', '--collection', 'docs', '--cron', '0 5 * * 0'],
      iso.env,
    );
    expect(cli.code, cli.stderr).toBe(0);
    const env = { ...iso.env, SCHEDULES_FILE: file };
    await startBoth(env);
    const schedulers = await queue.getJobSchedulers(0, -1, true);
    expect(schedulers.map((s) => s.key).sort()).toEqual(['by-hand', 'local', 'nightly']);
    expect(await queue.getJobSchedulersCount()).toBe(3);
    // One tick waits per scheduler, however many processes upserted it.
    expect(await queue.getJobCountByTypes('delayed', 'waiting')).toBe(3);
    const local = schedulers.find((s) => s.key === 'local');
    // A local path travels as a file:// URL: a payload never turns a bare string into a path.
    expect(local?.template?.data).toMatchObject({
      sources: [pathToFileURL(path.join(dir, 'docs')).href],
      sink: 'both',
      managedBy: 'file',
    });

    fs.writeFileSync(
      file,
      JSON.stringify({
        schedules: [
          {
            name: 'nightly',
            sources: ['https://docs.example.com/'],
            collection: 'docs',
            cron: '0 3 * * *',
            tz: 'Europe/Berlin',
          },
        ],
      }),
    );
    await startBoth(env);
    expect((await queue.getJobSchedulers(0, -1, true)).map((s) => s.key).sort()).toEqual(['by-hand', 'nightly']);

    // A bad file stops the worker with the entry and field named.
    fs.writeFileSync(
      file,
      'schedules:\n  - name: broken\n    sources: [https://x.example/]\n    collection: docs\n    every: 6d\n',
    );
    const bad = await runCli(['worker', 'schedule'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/entry 1 \("broken"\): every: invalid duration "6d"/);
  }, 120_000);
});
