/**
 * Schedules (docs/vocabulary.md, "schedule"): named, recurring re-index runs
 * on BullMQ job schedulers, added from the CLI, the TypeScript API or
 * SCHEDULES_FILE. A schedule is its job scheduler (id = name, template =
 * the tick payload, which says who manages it) plus its state in Redis
 * (./state.ts). Ticks are processed by jobs/schedule.ts.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { JobSchedulerJson } from 'bullmq';
import { PermanentError } from '../errors/index.ts';
import { type SchedulePayload, SchedulePayloadSchema } from '../queue/contracts.ts';
import { manualTickJobId } from '../queue/job-ids.ts';
import type { RunDeps } from '../runtime/job-context.ts';
import {
  intervalSeconds,
  parseSchedulesFile,
  repeatOptions,
  type ScheduleDefinition,
  schedulePayload,
  type ValidScheduleDefinition,
  validateSchedule,
} from './definition.ts';
import { ScheduleState, type ScheduleStatus } from './state.ts';

/** What the schedule functions need: a Runtime or a JobContext. */
export type ScheduleDeps = Pick<RunDeps, 'config' | 'logger' | 'producer' | 'tracker'>;

export function scheduleState(rt: ScheduleDeps): ScheduleState {
  return new ScheduleState(rt.tracker.redis, rt.config.redis.prefix);
}

/** One schedule as `schedule list --json` prints it. Times are ISO 8601. */
export interface ScheduleInfo {
  name: string;
  cron?: string;
  tz?: string;
  /** Period, ms. */
  every?: number;
  /** Seconds between ticks (for cron: between the next two fires). */
  intervalSeconds: number;
  /** When the next tick fires. */
  nextRun: string | null;
  collection: string;
  sources: string[];
  sink: SchedulePayload['sink'];
  maxPages?: number;
  allowMassDelete: boolean;
  managedBy: SchedulePayload['managedBy'];
  activeRun: string | null;
  lastRunId: string | null;
  lastOutcome: ScheduleStatus['lastOutcome'] | null;
  lastFinishedAt: string | null;
  lastSuccessAt: string | null;
  /** When the schedule was first added. */
  createdAt: string | null;
  skippedTicks: number;
}

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

/**
 * Adds a schedule or updates the one of the same name (idempotent).
 * @throws PermanentError naming the schedule and the bad field.
 */
export async function addSchedule(
  rt: ScheduleDeps,
  definition: ScheduleDefinition,
  options: { managedBy?: 'file' | 'api'; cwd?: string } = {},
): Promise<ValidScheduleDefinition> {
  const def = validateSchedule(definition);
  const payload = schedulePayload(def, options.managedBy ?? 'api', options.cwd);
  await rt.producer.upsertScheduler(def.name, repeatOptions(def), payload);
  await scheduleState(rt).created(def.name);
  rt.logger.info({ schedule: def.name, managedBy: payload.managedBy }, 'schedule upserted');
  return def;
}

/** Removes a schedule and its state. @returns false when there was no such schedule. */
export async function removeSchedule(rt: ScheduleDeps, name: string): Promise<boolean> {
  const removed = await rt.producer.removeScheduler(name);
  await scheduleState(rt).remove(name);
  return removed;
}

function payloadOf(s: JobSchedulerJson): SchedulePayload | undefined {
  const parsed = SchedulePayloadSchema.safeParse(s.template?.data);
  return parsed.success ? parsed.data : undefined;
}

/** Every schedule with its next run and last run, by name. */
export async function listSchedules(rt: ScheduleDeps): Promise<ScheduleInfo[]> {
  const schedulers = await rt.producer.queues.schedule.getJobSchedulers(0, -1, true);
  const state = scheduleState(rt);
  const out: ScheduleInfo[] = [];
  for (const s of schedulers) {
    const p = payloadOf(s);
    if (!p) continue; // not Sluice's (another producer's scheduler on this queue)
    const st = await state.status(s.key);
    out.push({
      name: s.key,
      ...(s.pattern ? { cron: s.pattern } : {}),
      ...(s.tz ? { tz: s.tz } : {}),
      ...(s.every ? { every: Number(s.every) } : {}),
      intervalSeconds: intervalSeconds({
        ...(s.pattern ? { pattern: s.pattern } : {}),
        ...(s.tz ? { tz: s.tz } : {}),
        ...(s.every ? { every: Number(s.every) } : {}),
      }),
      nextRun: iso(s.next === undefined ? undefined : Number(s.next)),
      collection: p.collection,
      sources: p.sources,
      sink: p.sink,
      ...(p.maxPages !== undefined ? { maxPages: p.maxPages } : {}),
      allowMassDelete: p.allowMassDelete,
      managedBy: p.managedBy,
      activeRun: st.activeRun ?? null,
      lastRunId: st.lastRun ?? null,
      lastOutcome: st.lastOutcome ?? null,
      lastFinishedAt: iso(st.lastFinishedAt),
      lastSuccessAt: iso(st.lastSuccessAt),
      createdAt: iso(st.createdAt),
      skippedTicks: st.skipped,
    });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Starts a tick of a schedule now, through the same processor and overlap
 * rule as its scheduled ticks.
 * @returns the tick's job id.
 * @throws PermanentError when there is no such schedule.
 */
export async function runScheduleNow(rt: ScheduleDeps, name: string, now = Date.now()): Promise<string> {
  const scheduler = await rt.producer.queues.schedule.getJobScheduler(name);
  const payload = scheduler ? payloadOf(scheduler) : undefined;
  if (!payload) throw new PermanentError(`no schedule named "${name}" (see: sluice schedule list)`);
  const [jobId] = await rt.producer.add('schedule', [{ jobId: manualTickJobId(name, now), payload }]);
  return jobId as string;
}

/**
 * Applies SCHEDULES_FILE: upserts every schedule it defines (marked as
 * file-managed) and removes the file-managed schedules it no longer
 * defines; schedules added from the CLI or the API are left alone.
 * @throws PermanentError naming the file, and each bad entry with its field.
 */
export async function applySchedulesFile(
  rt: ScheduleDeps,
  file: string,
): Promise<{ upserted: string[]; removed: string[] }> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new PermanentError(`SCHEDULES_FILE=${file}: cannot read it: ${(err as Error).message}`);
  }
  const defs = parseSchedulesFile(text, file);
  const wanted = new Set(defs.map((d) => d.name));
  const existing = await rt.producer.queues.schedule.getJobSchedulers(0, -1, true);
  for (const s of existing) {
    const p = payloadOf(s);
    if (wanted.has(s.key) && p?.managedBy === 'api')
      throw new PermanentError(
        `${file}: schedule "${s.key}" exists and was added from the CLI or API; remove it (sluice schedule remove ${s.key}) or rename the entry`,
      );
  }
  // Relative paths in the file are relative to the file.
  for (const def of defs) await addSchedule(rt, def, { managedBy: 'file', cwd: path.dirname(path.resolve(file)) });
  const removed: string[] = [];
  for (const s of existing) {
    if (payloadOf(s)?.managedBy === 'file' && !wanted.has(s.key)) {
      await removeSchedule(rt, s.key);
      removed.push(s.key);
    }
  }
  rt.logger.info({ file, upserted: [...wanted], removed }, 'schedules file applied');
  return { upserted: [...wanted], removed };
}
