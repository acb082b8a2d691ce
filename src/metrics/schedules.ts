/**
 * The schedule collector: `sluice_schedule_last_success_timestamp_seconds`
 * and `sluice_schedule_interval_seconds`, read at scrape time from what the
 * worker process registered with {@link setScheduleSource} (Redis: the job
 * schedulers and their state). Series definitions of everything else are in
 * ./metrics.ts, in the same registry.
 */
import { Gauge } from 'prom-client';
import { registry } from './metrics.ts';

/** One schedule as the schedule gauges report it. */
export interface ScheduleSample {
  schedule: string;
  /** Seconds between ticks (for cron: between the next two fires). */
  intervalSeconds: number;
  /** When its last run finished with nothing failed (or when it was added, if none has yet), seconds since the epoch. */
  lastSuccessSeconds: number | undefined;
}

let scheduleSource: (() => Promise<ScheduleSample[]>) | undefined;
let scheduleRead: Promise<ScheduleSample[]> | undefined;

/**
 * Where worker processes of the schedule queue read the schedule gauges
 * from at scrape time (Redis: the job schedulers and their state). Values
 * are the same in every such process: aggregate with `max by (schedule)`.
 */
export function setScheduleSource(source: (() => Promise<ScheduleSample[]>) | undefined): void {
  scheduleSource = source;
}

async function readSchedules(): Promise<ScheduleSample[]> {
  if (!scheduleSource) return [];
  scheduleRead ??= scheduleSource().finally(() => {
    scheduleRead = undefined;
  });
  return scheduleRead.catch(() => []);
}

/**
 * When each schedule last succeeded (its run finished with nothing failed),
 * seconds since the epoch; a schedule that never succeeded reports when it
 * was added, so "no success for two intervals" holds for it too.
 */
export const scheduleLastSuccessTimestampSeconds = new Gauge({
  name: 'sluice_schedule_last_success_timestamp_seconds',
  help: 'When the schedule last ran with nothing failed (or was added, if never), seconds since the epoch.',
  labelNames: ['schedule'] as const,
  registers: [registry],
  async collect() {
    const samples = await readSchedules();
    this.reset();
    for (const s of samples)
      if (s.lastSuccessSeconds !== undefined) this.set({ schedule: s.schedule }, s.lastSuccessSeconds);
  },
});

/** Seconds between a schedule's ticks (for cron: the gap between its next two fires). */
export const scheduleIntervalSeconds = new Gauge({
  name: 'sluice_schedule_interval_seconds',
  help: "Seconds between a schedule's ticks (cron: the gap between the next two fires).",
  labelNames: ['schedule'] as const,
  registers: [registry],
  async collect() {
    const samples = await readSchedules();
    this.reset();
    for (const s of samples) this.set({ schedule: s.schedule }, s.intervalSeconds);
  },
});
