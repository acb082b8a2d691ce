/**
 * Per-schedule state in Redis, under the queue prefix (docs/design.md,
 * "Schedules"): the active run (and the tick that started it), the last
 * run, its outcome and times, the last success, and which run each tick
 * started. Every write is idempotent (compare-and-set or move-forward Lua
 * scripts), because ticks are delivered at least once.
 *
 * Keys:
 * - `<prefix>:schedule:<name>` hash: activeRun, activeTick, activeSince,
 *   lastRun, lastTick, lastTickAt, lastOutcome, lastFinishedAt,
 *   lastSuccessAt, createdAt, skipped;
 * - `<prefix>:schedule:<name>:tick:<tick id>` the run of one tick;
 * - `<prefix>:schedule:<name>:runs` hash run id → tick id (for inspection
 *   and the tests that count runs by tick).
 */
import type { Redis } from '../queue/redis.ts';
import { defineScript } from '../queue/scripts.ts';
import { RUN_TTL_SECONDS } from '../runs/tracker.ts';

const claimScript = defineScript<[string, string], [string, string, string]>(
  'sluiceScheduleClaimTick',
  new URL('./lua/claim-tick-3.lua', import.meta.url),
);
const finishScript = defineScript<number, [string]>(
  'sluiceScheduleFinishTick',
  new URL('./lua/finish-tick-1.lua', import.meta.url),
);

export type RunOutcome = 'succeeded' | 'partial' | 'failed';

/** The state of one schedule as `schedule list` shows it. Times are ms since the epoch. */
export interface ScheduleStatus {
  activeRun?: string;
  activeTick?: string;
  activeSince?: number;
  lastRun?: string;
  lastTick?: string;
  lastOutcome?: RunOutcome;
  lastFinishedAt?: number;
  lastSuccessAt?: number;
  createdAt?: number;
  /** Ticks skipped because the previous run was still going. */
  skipped: number;
}

export class ScheduleState {
  readonly redis: Redis;
  readonly prefix: string;

  constructor(redis: Redis, prefix: string) {
    this.redis = redis;
    this.prefix = prefix;
  }

  key(name: string, part?: string): string {
    return part ? `${this.prefix}:schedule:${name}:${part}` : `${this.prefix}:schedule:${name}`;
  }

  /** Records when a schedule was first added (kept across upserts). */
  async created(name: string, now = Date.now()): Promise<void> {
    await this.redis.hsetnx(this.key(name), 'createdAt', String(now));
  }

  async status(name: string): Promise<ScheduleStatus> {
    const h = await this.redis.hgetall(this.key(name));
    const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
    const out: ScheduleStatus = { skipped: Number(h.skipped ?? 0) };
    if (h.activeRun) out.activeRun = h.activeRun;
    if (h.activeTick) out.activeTick = h.activeTick;
    if (h.activeSince) out.activeSince = num(h.activeSince) as number;
    if (h.lastRun) out.lastRun = h.lastRun;
    if (h.lastTick) out.lastTick = h.lastTick;
    if (h.lastOutcome) out.lastOutcome = h.lastOutcome as RunOutcome;
    if (h.lastFinishedAt) out.lastFinishedAt = num(h.lastFinishedAt) as number;
    if (h.lastSuccessAt) out.lastSuccessAt = num(h.lastSuccessAt) as number;
    if (h.createdAt) out.createdAt = num(h.createdAt) as number;
    return out;
  }

  /** The run a tick started, if it started one. */
  async runOfTick(name: string, tickId: string): Promise<string | undefined> {
    return (await this.redis.get(this.key(name, `tick:${tickId}`))) ?? undefined;
  }

  /** Every run the schedule's ticks started (within RUN_TTL_SECONDS), run id → tick id. */
  async runs(name: string): Promise<Record<string, string>> {
    return this.redis.hgetall(this.key(name, 'runs'));
  }

  /** See `lua/claim-tick-3.lua`. */
  async claim(
    name: string,
    tickId: string,
    runId: string,
    expectedActive: string | undefined,
    now = Date.now(),
  ): Promise<{ result: 'resume' | 'started' | 'changed'; runId: string }> {
    const [result, id] = await claimScript.run(
      this.redis,
      [this.key(name), this.key(name, `tick:${tickId}`), this.key(name, 'runs')],
      [tickId, runId, expectedActive ?? '', String(now), String(RUN_TTL_SECONDS)],
    );
    return { result: result as 'resume' | 'started' | 'changed', runId: id };
  }

  async skipped(name: string): Promise<void> {
    await this.redis.hincrby(this.key(name), 'skipped', 1);
  }

  /** See `lua/finish-tick-1.lua`. @returns false when a newer tick's outcome was kept. */
  async finish(
    name: string,
    run: { runId: string; tickId: string; firedAt: number },
    outcome: RunOutcome,
    now = Date.now(),
  ): Promise<boolean> {
    const written = await finishScript.run(
      this.redis,
      [this.key(name)],
      [run.runId, run.tickId, String(run.firedAt), outcome, String(now)],
    );
    return written === 1;
  }

  /** Forgets a removed schedule (its tick keys expire on their own). */
  async remove(name: string): Promise<void> {
    await this.redis.del(this.key(name), this.key(name, 'runs'));
  }
}
