/**
 * The chaos run's fault schedule (issue "A chaos run that proves it"): a
 * seeded plan of when each fault fires and how long it lasts, so that a run
 * can be repeated from its printed seed. Pure: no clock, no I/O.
 *
 * Dependency outages (Redis restarts, PostgreSQL refused or blackholed)
 * never overlap each other — each is a separate event the run must outlast,
 * with at least `minGapMs` between them; SIGKILLs, the SIGSTOP and
 * the SIGTERMs fall anywhere in the window, outages included, as they would
 * in production.
 */
import { createRandom, type Random } from '@sluice/openai-emulator';

/** One fault of the plan. Times are ms from the start of the ingest. */
export type Fault =
  | { kind: 'sigkill'; atMs: number; pick: number }
  | { kind: 'sigterm'; atMs: number; pick: number }
  | { kind: 'sigstop'; atMs: number; durationMs: number; pick: number }
  | { kind: 'redis-restart'; atMs: number; durationMs: number }
  | { kind: 'pg-refuse'; atMs: number; durationMs: number }
  | { kind: 'pg-blackhole'; atMs: number; durationMs: number };

/** What the plan holds; durations in ms. The defaults are the issue's. */
export interface PlanOptions {
  seed: number;
  /** The window faults fall in, ms from the start of the ingest. */
  windowStartMs: number;
  windowEndMs: number;
  sigkills: number;
  sigterms: number;
  /** Redis restarts, each down for a uniform time in [min, max] ms. */
  redisRestarts: number;
  redisDownMs: readonly [number, number];
  /** PostgreSQL outages with connections refused, each this long. */
  pgRefusals: number;
  pgRefuseMs: number;
  /** PostgreSQL blackholes (the proxy forwards nothing, closes nothing), each this long. */
  pgBlackholes: number;
  pgBlackholeMs: number;
  /** One worker SIGSTOPped this long, then SIGCONT. 0: none. */
  sigstopMs: number;
  /** The least time between two dependency outages: workers reconnect and resume between them. */
  minGapMs: number;
}

/** The issue's fault mix over an 8-minute window starting 15 s into the ingest. */
export const DEFAULT_PLAN: Omit<PlanOptions, 'seed'> = {
  windowStartMs: 15_000,
  windowEndMs: 495_000,
  sigkills: 20,
  sigterms: 3,
  redisRestarts: 3,
  redisDownMs: [5_000, 15_000],
  pgRefusals: 2,
  pgRefuseMs: 45_000,
  pgBlackholes: 1,
  pgBlackholeMs: 60_000,
  sigstopMs: 120_000,
  minGapMs: 10_000,
};

/**
 * Scales every duration and time of `plan` by `factor` (a short run for
 * trying the harness; the printed figures say which scale ran). Redis
 * restarts and the gaps between outages stay ≥ 1 s.
 */
export function scalePlan(plan: Omit<PlanOptions, 'seed'>, factor: number): Omit<PlanOptions, 'seed'> {
  const s = (ms: number) => Math.round(ms * factor);
  return {
    ...plan,
    windowStartMs: s(plan.windowStartMs),
    windowEndMs: s(plan.windowEndMs),
    redisDownMs: [Math.max(1_000, s(plan.redisDownMs[0])), Math.max(1_000, s(plan.redisDownMs[1]))],
    pgRefuseMs: s(plan.pgRefuseMs),
    pgBlackholeMs: s(plan.pgBlackholeMs),
    sigstopMs: s(plan.sigstopMs),
    minGapMs: Math.max(1_000, s(plan.minGapMs)),
  };
}

/** A uniform integer in [min, max]. */
function between(random: Random, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

/**
 * Places the outages one after another in a random order, with the window's
 * spare time split at random into the gaps before, between and after them.
 */
function placeOutages(o: PlanOptions, random: Random): Fault[] {
  type Outage = { kind: 'redis-restart' | 'pg-refuse' | 'pg-blackhole'; durationMs: number };
  const outages: Outage[] = [
    ...Array.from({ length: o.redisRestarts }, () => ({
      kind: 'redis-restart' as const,
      durationMs: between(random, o.redisDownMs[0], o.redisDownMs[1]),
    })),
    ...Array.from({ length: o.pgRefusals }, () => ({ kind: 'pg-refuse' as const, durationMs: o.pgRefuseMs })),
    ...Array.from({ length: o.pgBlackholes }, () => ({ kind: 'pg-blackhole' as const, durationMs: o.pgBlackholeMs })),
  ];
  // Fisher–Yates: the order of the outages is part of the seed's draw.
  for (let i = outages.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [outages[i], outages[j]] = [outages[j]!, outages[i]!];
  }
  const busy = outages.reduce((sum, x) => sum + x.durationMs, 0) + o.minGapMs * Math.max(0, outages.length - 1);
  const spare = o.windowEndMs - o.windowStartMs - busy;
  if (spare < 0)
    throw new RangeError(
      `the fault window (${o.windowEndMs - o.windowStartMs} ms) is shorter than its outages and gaps (${busy} ms): widen it`,
    );
  // Split the spare time into outages.length + 1 random shares (sorted uniform cuts).
  const cuts = Array.from({ length: outages.length }, () => random() * spare).sort((a, b) => a - b);
  const faults: Fault[] = [];
  let at = o.windowStartMs;
  let previousCut = 0;
  outages.forEach((x, i) => {
    at += Math.round(cuts[i]! - previousCut) + (i > 0 ? o.minGapMs : 0);
    previousCut = cuts[i]!;
    faults.push({ kind: x.kind, atMs: at, durationMs: x.durationMs });
    at += x.durationMs;
  });
  return faults;
}

/**
 * The fault plan for `options`, sorted by time. `pick` is a uniform draw in
 * [0, 1) that chooses the target among the processes alive when the fault
 * fires (which ones are alive depends on the run, the draw does not).
 * @throws RangeError when the window cannot hold the outages, or the SIGSTOP
 */
export function planFaults(options: PlanOptions): Fault[] {
  const random = createRandom(options.seed);
  const { windowStartMs: start, windowEndMs: end } = options;
  const faults = placeOutages(options, random);
  for (let i = 0; i < options.sigkills; i++)
    faults.push({ kind: 'sigkill', atMs: between(random, start, end), pick: random() });
  for (let i = 0; i < options.sigterms; i++)
    faults.push({ kind: 'sigterm', atMs: between(random, start, end), pick: random() });
  if (options.sigstopMs > 0) {
    if (end - options.sigstopMs < start)
      throw new RangeError(`the fault window is shorter than the SIGSTOP (${options.sigstopMs} ms): widen it`);
    faults.push({
      kind: 'sigstop',
      atMs: between(random, start, end - options.sigstopMs),
      durationMs: options.sigstopMs,
      pick: random(),
    });
  }
  return faults.sort((a, b) => a.atMs - b.atMs);
}

/** When the last fault of `plan` is over, ms from the start of the ingest (a SIGKILL or SIGTERM is over when sent). */
export function lastFaultEndMs(plan: readonly Fault[]): number {
  return plan.reduce((end, f) => Math.max(end, f.atMs + ('durationMs' in f ? f.durationMs : 0)), 0);
}

/** One line per fault, for the run's log: `+123.4 s pg-refuse 45.0 s`. */
export function describePlan(plan: readonly Fault[]): string[] {
  return plan.map(
    (f) =>
      `+${(f.atMs / 1000).toFixed(1)} s ${f.kind}${'durationMs' in f ? ` ${(f.durationMs / 1000).toFixed(1)} s` : ''}`,
  );
}
