/**
 * Schedule ticks against real Redis, PostgreSQL and the emulator, with
 * in-process workers: a tick runs an ordinary run; a tick whose previous
 * run is still going (held open by a slow page) is skipped; a previous run
 * whose Redis state was deleted does not block the next tick.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registry } from '../../src/metrics/metrics.ts';
import { addSchedule, listSchedules, runScheduleNow, scheduleState } from '../../src/schedule/schedules.ts';
import { openTestRuntime, type TestRuntime } from '../helpers/runtime.ts';
import { tickOutcome, until } from '../helpers/wait.ts';

let t: TestRuntime;
let server: http.Server;
let base: string;
/** How long /docs/slow.html takes to answer, ms. */
let slowMs = 0;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const page = (body: string) => res.writeHead(200, { 'content-type': 'text/html' }).end(body);
    if (req.url === '/docs/index.html')
      page(
        '<html><head><title>Home</title></head><body><h1>Home</h1><p>Widgets home page.</p><a href="a.html">a</a> <a href="slow.html">slow</a></body></html>',
      );
    else if (req.url === '/docs/a.html') page('<html><body><h1>A</h1><p>Page a about widgets.</p></body></html>');
    else if (req.url === '/docs/slow.html')
      setTimeout(() => page('<html><body><h1>Slow</h1><p>A page that takes its time.</p></body></html>'), slowMs);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t = await openTestRuntime({ JOB_ATTEMPTS: '2', JOB_BACKOFF_MS: '100' });
  // A yearly pattern: this test ticks by hand (`schedule run`), through the same processor.
  await addSchedule(t.rt, {
    name: 'site',
    sources: [`${base}/docs/index.html`],
    collection: 'site',
    cron: '0 0 1 1 *',
  });
});

afterAll(async () => {
  await t?.close();
  await new Promise((r) => server?.close(r));
});

/** Waits for a tick of this test's queue to end. */
const tickResult = (jobId: string) => tickOutcome(t.rt.queues.schedule, jobId);

async function ticks(outcome: string): Promise<number> {
  const m = (await registry.getSingleMetric('sluice_schedule_ticks_total')!.get()).values;
  return m.find((v) => v.labels.outcome === outcome)?.value ?? 0;
}

describe('schedule ticks', () => {
  it('a tick runs an ordinary run of the schedule, with deletion sync asked for', async () => {
    const started = await ticks('started');
    const tick = await runScheduleNow(t.rt, 'site');
    const r = await tickResult(tick);
    expect(r.state, r.error).toBe('completed');
    expect(r.result).toMatchObject({
      outcome: 'started',
      runOutcome: 'succeeded',
      documents: 3,
      failed: 0,
      documentsDeleted: 0,
    });
    expect(r.result!.runId).toBe(`tick-${tick}`);
    expect(await ticks('started')).toBe(started + 1);
    const [info] = await listSchedules(t.rt);
    expect(info).toMatchObject({ name: 'site', lastRunId: `tick-${tick}`, lastOutcome: 'succeeded', activeRun: null });
    expect(info!.lastSuccessAt).not.toBeNull();
    // The same job ids and tracking as `sluice enqueue`: the run's crawl jobs are in the crawl queue.
    const crawl = await t.rt.queues.crawl.getJobs(['completed']);
    expect(crawl.filter((j) => String(j.id).startsWith(`crawl-tick-${tick}-`))).toHaveLength(3);
  });

  it('skips a tick while the previous run is still going', async () => {
    slowMs = 4000;
    const skipped = await ticks('skipped');
    const first = await runScheduleNow(t.rt, 'site');
    const state = scheduleState(t.rt);
    await until(async () => ((await state.status('site')).activeTick === first ? true : undefined), 'the first run');
    const second = await runScheduleNow(t.rt, 'site', Date.now() + 1);
    const r2 = await tickResult(second);
    expect(r2.result).toEqual({ schedule: 'site', outcome: 'skipped', runId: `tick-${first}` });
    const r1 = await tickResult(first);
    expect(r1.result).toMatchObject({ outcome: 'started', runOutcome: 'succeeded' });
    expect(await ticks('skipped')).toBe(skipped + 1);
    expect((await state.status('site')).skipped).toBeGreaterThanOrEqual(1);
    // The skipped tick started no run.
    expect(Object.values(await state.runs('site'))).not.toContain(second);
  }, 60_000);

  it('a previous run whose Redis state is gone does not block the next tick', async () => {
    slowMs = 12_000;
    const state = scheduleState(t.rt);
    const lost = await runScheduleNow(t.rt, 'site');
    await until(async () => ((await state.status('site')).activeTick === lost ? true : undefined), 'the run');
    // Past the grace a starting run gets, delete every run key of it (as a Redis flush would).
    await new Promise((r) => setTimeout(r, 5500));
    const keys = await t.rt.redis.keys(`${t.iso.prefix}:run:tick-${lost}:*`);
    expect(keys.length).toBeGreaterThan(0);
    await t.rt.redis.del(...keys);
    slowMs = 0;
    const next = await runScheduleNow(t.rt, 'site', Date.now() + 1);
    const r = await tickResult(next);
    expect(r.result).toMatchObject({ outcome: 'started', runId: `tick-${next}` });
    // The tick whose run vanished stops waiting and fails with the reason, for good.
    const old = await tickResult(lost);
    expect(old.state).toBe('failed');
    expect(old.error).toMatch(/state is gone from Redis/);
    const st = await state.status('site');
    expect(st.activeRun).toBeUndefined();
    expect(st.lastRun).toBe(`tick-${next}`);
    expect(await ticks('failed')).toBeGreaterThanOrEqual(1);
  }, 90_000);
});
