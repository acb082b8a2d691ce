/**
 * `waitForRun` against real Redis when a run's state goes (docs/design.md,
 * "Runs that lose their state"). Keys are deleted one run at a time under the
 * test's own prefix, never flushed: this is the machine's shared Redis.
 * - the run's record deleted: RunStateLostError naming the run, at once;
 * - its job list lost and partly written again, the record still there: the
 *   same, naming the job list (a shrunken list must not read as finished);
 * - a wait longer than the record's TTL refreshes it instead of losing it;
 * - a run whose jobs were recorded by hand, without a record, is not lost;
 * - a job that vanished from its queue while the run's state remains is
 *   failed after 2 minutes, and the run ends normally (unchanged).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPermanent, RunStateLostError } from '../../src/errors/index.ts';
import { waitForRun } from '../../src/ingest/ingest.ts';
import { newRunId, RUN_TTL_SECONDS } from '../../src/runs/tracker.ts';
import { openTestRuntime, type TestRuntime } from '../helpers/runtime.ts';

let t: TestRuntime;

beforeAll(async () => {
  t = await openTestRuntime({}, { workers: false });
});

afterAll(async () => {
  await t?.close();
});

/** A run with its record and `jobs` recorded (no queue holds them). */
async function startRun(jobs: string[]): Promise<string> {
  const runId = newRunId();
  await t.rt.tracker.start(runId, { collection: 'c', sources: '[]' });
  await t.rt.tracker.addJobs(runId, jobs);
  return runId;
}

/** Resolves to what `waitForRun` threw, or to `{ progress }` when it returned. */
function waitOutcome(runId: string, stallCheckMs = 20_000) {
  return waitForRun(t.rt, runId, { pollMs: 50, stallCheckMs }).then(
    (progress) => ({ progress }),
    (err: unknown) => ({ err }),
  );
}

describe('waitForRun when the run loses its state', () => {
  it('the run record deleted (as a flush would): RunStateLostError naming the run', async () => {
    const runId = await startRun(['crawl/a', 'crawl/b']);
    await t.rt.tracker.finishJob(runId, 'crawl/a');
    const outcome = waitOutcome(runId);
    await new Promise((r) => setTimeout(r, 300));
    await t.rt.redis.del(...(await t.rt.redis.keys(t.rt.tracker.key(runId, '*'))));
    // A job still running writes to the run after the loss: that must not revive it.
    await t.rt.tracker.finishJob(runId, 'crawl/b');
    const { err } = (await outcome) as { err: unknown };
    expect(err).toBeInstanceOf(RunStateLostError);
    expect(isPermanent(err)).toBe(true);
    const lost = err as RunStateLostError;
    expect(lost.runId).toBe(runId);
    expect(lost.lost).toContain('its record');
    expect(lost.message).toContain(`run ${runId}: its state is gone from Redis`);
    expect(lost.message).toContain('1 of its 2 jobs had finished');
  });

  it('the job list lost and partly rewritten, the record kept: lost, not finished', async () => {
    const runId = await startRun(['crawl/a', 'crawl/b', 'crawl/c']);
    const outcome = waitOutcome(runId);
    await new Promise((r) => setTimeout(r, 300));
    // Lost, then a fan-out records one job again and it finishes: 1 of 1 would read as a finished run.
    await t.rt.redis.del(t.rt.tracker.key(runId, 'jobs'));
    await t.rt.tracker.addJobs(runId, ['crawl/d']);
    await t.rt.tracker.finishJob(runId, 'crawl/d');
    const { err } = (await outcome) as { err: unknown };
    expect(err).toBeInstanceOf(RunStateLostError);
    expect((err as RunStateLostError).lost).toEqual(['its job list (1 of 3 left)']);
  });

  it("a wait longer than the record's TTL keeps the record alive", async () => {
    const runId = await startRun(['crawl/a']);
    await t.rt.redis.expire(t.rt.tracker.key(runId, 'meta'), 2);
    const outcome = waitOutcome(runId);
    await new Promise((r) => setTimeout(r, 3000));
    await t.rt.tracker.finishJob(runId, 'crawl/a');
    expect(await outcome).toEqual({ progress: { jobs: 1, finished: 1, failed: 0 } });
    expect(await t.rt.redis.ttl(t.rt.tracker.key(runId, 'meta'))).toBeGreaterThan(RUN_TTL_SECONDS - 60);
  });

  it('a run without a record (jobs recorded by hand) is not taken for lost; it ends when its jobs finish', async () => {
    const runId = newRunId();
    await t.rt.tracker.addJobs(runId, ['embed/a', 'embed/b']);
    const outcome = waitOutcome(runId);
    await new Promise((r) => setTimeout(r, 1500));
    await t.rt.tracker.finishJob(runId, 'embed/a');
    await t.rt.tracker.finishJob(runId, 'embed/b');
    expect(await outcome).toEqual({ progress: { jobs: 2, finished: 2, failed: 0 } });
  });

  it('a job missing from its queue while the run state remains is failed after 2 minutes; the run ends', async () => {
    const runId = await startRun(['crawl/a', 'crawl/vanished']);
    await t.rt.tracker.finishJob(runId, 'crawl/a');
    const outcome = await waitOutcome(runId, 1000);
    expect(outcome).toEqual({ progress: { jobs: 2, finished: 2, failed: 1 } });
    const [failure] = await t.rt.tracker.failures(runId);
    expect(failure).toMatchObject({ source: 'crawl job vanished', transient: true });
    expect(failure!.error).toMatch(/vanished from Redis/);
  }, 200_000);
});
