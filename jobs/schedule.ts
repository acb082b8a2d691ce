/**
 * The schedule processor: one tick of a schedule (docs/design.md,
 * "Schedules") becomes an ordinary run through the run functions `sluice
 * ingest` and `sluice sync` use (same job ids, same tracking), with
 * deletion sync asked for. The run's id is derived from the tick's job id,
 * so a tick redelivered after its worker died resumes waiting for its own
 * run instead of starting another. A tick whose schedule's previous run is
 * still going is skipped; a previous run whose Redis state is gone (or that
 * finished while its tick's worker was dead) does not block, and a tick whose
 * own run loses its state fails for good.
 */
import type { Job } from 'bullmq';
import { isPermanent } from '../src/errors/index.ts';
import { ingest } from '../src/ingest/ingest.ts';
import { scheduleTicksTotal } from '../src/metrics/metrics.ts';
import type { SchedulePayload, TickResult } from '../src/queue/contracts.ts';
import { tickRunId } from '../src/queue/job-ids.ts';
import type { JobContext } from '../src/runtime/job-context.ts';
import { scheduleState } from '../src/schedule/schedules.ts';
import type { RunOutcome, ScheduleState } from '../src/schedule/state.ts';
import { sync } from '../src/sync/sync.ts';

/**
 * How long a just-claimed run may have no state in Redis yet, ms: the tick
 * claims its run, then the run functions record it (a few round trips, or
 * reading the files of a sync); past this, no state means it was lost.
 */
export const STARTING_GRACE_MS = 5000;

/** The runs of a tick: sync with sink `both` runs its pgvector part under its own id. */
function runIdsOf(runId: string, sink: SchedulePayload['sink']): string[] {
  return sink === 'both' ? [runId, `${runId}-pgvector`] : [runId];
}

/**
 * Whether a schedule's active run is still going: some of its state exists
 * and not all of its jobs have finished. A run with no state is going only
 * while it may still be starting ({@link STARTING_GRACE_MS}).
 */
async function isGoing(
  ctx: JobContext,
  runId: string,
  sink: SchedulePayload['sink'],
  activeSince: number | undefined,
): Promise<'going' | 'finished' | 'lost'> {
  let seen = false;
  for (const id of runIdsOf(runId, sink)) {
    if (!(await ctx.tracker.exists(id))) continue;
    seen = true;
    const p = await ctx.tracker.progress(id);
    if (p.jobs === 0 || p.finished < p.jobs) return 'going';
  }
  if (seen) return 'finished';
  return Date.now() - (activeSince ?? 0) < STARTING_GRACE_MS ? 'going' : 'lost';
}

/** Claims the tick's run, or says which run it must wait behind. */
async function claimTick(
  ctx: JobContext,
  state: ScheduleState,
  payload: SchedulePayload,
  tickId: string,
): Promise<{ result: 'started' | 'resume' | 'skipped'; runId: string }> {
  const name = payload.schedule;
  const own = await state.runOfTick(name, tickId);
  if (own) return { result: 'resume', runId: own };
  for (let i = 0; i < 10; i++) {
    const st = await state.status(name);
    if (st.activeRun) {
      const previous = await isGoing(ctx, st.activeRun, payload.sink, st.activeSince);
      if (previous === 'going') return { result: 'skipped', runId: st.activeRun };
      ctx.logger.warn(
        { schedule: name, previousRun: st.activeRun, previousTick: st.activeTick, tick: tickId },
        previous === 'lost'
          ? "the previous run's state is gone from Redis: it no longer blocks the schedule"
          : 'the previous run finished but its tick did not report it: it no longer blocks the schedule',
      );
    }
    const claim = await state.claim(name, tickId, tickRunId(tickId), st.activeRun);
    if (claim.result !== 'changed') return { result: claim.result, runId: claim.runId };
  }
  throw new Error(`schedule ${name}: the active run kept changing while tick ${tickId} tried to claim its run`);
}

/**
 * Runs (or resumes) the tick's run and waits for it. A run whose state
 * disappears from Redis ends the wait with a RunStateLostError, a permanent
 * error: the tick fails for good (docs/design.md, "Runs that lose their state").
 */
async function runTick(
  ctx: JobContext,
  payload: SchedulePayload,
  runId: string,
): Promise<{ outcome: RunOutcome; documents: number; failed: number; deleted: number; held: string | null }> {
  const request = {
    collection: payload.collection,
    sources: payload.sources,
    // Scheduled runs always sync deletions (docs/design.md, "Schedules").
    deleteMissing: true,
    allowMassDelete: payload.allowMassDelete,
    runId,
  };
  if (payload.sink === 'pgvector') {
    const s = await ingest(ctx, {
      ...request,
      ...(payload.maxPages !== undefined ? { maxPages: payload.maxPages } : {}),
    });
    return {
      outcome: s.failed.length ? 'partial' : 'succeeded',
      documents: s.documents,
      failed: s.failed.length,
      deleted: s.documentsDeleted,
      held: s.deletionHeld?.reason ?? null,
    };
  }
  const s = await sync(ctx, { ...request, sink: payload.sink });
  const failed = (s.failedFiles?.length ?? 0) + (s.pgvector?.failed.length ?? 0) + (s.status === 'failed' ? 1 : 0);
  return {
    outcome: failed ? 'partial' : 'succeeded',
    documents: s.pgvector?.documents ?? s.uniqueFiles,
    failed,
    deleted: s.pgvector?.documentsDeleted ?? 0,
    held: s.pgvector?.deletionHeld?.reason ?? null,
  };
}

export async function processSchedule(job: Job, payload: SchedulePayload, ctx: JobContext): Promise<TickResult> {
  const name = payload.schedule;
  const tickId = String(job.id);
  // Scheduled ticks carry their fire time; a manual tick (`schedule run`) its creation time.
  const firedAt = (job.opts as { prevMillis?: number }).prevMillis ?? job.timestamp;
  const state = scheduleState(ctx);
  const log = ctx.logger.child({ schedule: name, tick: tickId });

  const claim = await claimTick(ctx, state, payload, tickId);
  if (claim.result === 'skipped') {
    scheduleTicksTotal.inc({ outcome: 'skipped' });
    await state.skipped(name);
    log.info({ activeRun: claim.runId }, 'tick skipped: the previous run of this schedule is still going');
    return { schedule: name, outcome: 'skipped', runId: claim.runId };
  }
  if (claim.result === 'started') scheduleTicksTotal.inc({ outcome: 'started' });
  log.info({ runId: claim.runId, resumed: claim.result === 'resume' }, 'tick run started');
  const tick = { runId: claim.runId, tickId, firedAt };
  try {
    const r = await runTick(ctx, payload, claim.runId);
    await state.finish(name, tick, r.outcome);
    log.info({ runId: claim.runId, ...r }, 'tick run finished');
    return {
      schedule: name,
      outcome: 'started',
      runId: claim.runId,
      runOutcome: r.outcome as 'succeeded' | 'partial',
      documents: r.documents,
      failed: r.failed,
      documentsDeleted: r.deleted,
      deletionHeld: r.held,
    };
  } catch (err) {
    const final = isPermanent(err) || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    if (final) {
      scheduleTicksTotal.inc({ outcome: 'failed' });
      await state.finish(name, tick, 'failed');
    }
    throw err;
  }
}
