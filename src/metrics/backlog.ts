/**
 * The queue backlog collector: `sluice_queue_jobs` and
 * `sluice_queue_backlog_errors_total`, read from Redis when Prometheus
 * scrapes (not on a timer: the numbers are as fresh as the scrape and cost
 * nothing between), each queue within a deadline so one slow Redis never
 * fails the whole scrape. Series definitions of everything else are in
 * ./metrics.ts, in the same registry.
 */
import pino from 'pino';
import { Counter, Gauge } from 'prom-client';
import { QUEUE_STATES, registry } from './metrics.ts';

/** A queue whose backlog {@link queueJobs} reports; a BullMQ `Queue` fits. */
export interface BacklogQueue {
  readonly name: string;
  // Method syntax on purpose: BullMQ declares `getJobCounts(...types: JobType[])`
  // with a narrower parameter type, and only method parameters are checked
  // bivariantly, so a real Queue is assignable here.
  getJobCounts(...types: string[]): Promise<Record<string, number>>;
}

/** What {@link registerQueueBacklog} logs through; a pino logger fits. */
export interface BacklogLogger {
  warn(obj: object, msg?: string): void;
}

interface BacklogEntry {
  queue: BacklogQueue;
  logger: BacklogLogger;
  timeoutMs: number;
}

const backlogQueues = new Set<BacklogEntry>();

let defaultLogger: BacklogLogger | undefined;
// Created on first use so that importing the metrics never opens a log stream.
const fallbackLogger = (): BacklogLogger =>
  (defaultLogger ??= pino({ name: 'sluice-metrics', level: process.env.LOG_LEVEL ?? 'info' }));

/**
 * Jobs per queue and state, read from Redis when Prometheus scrapes (not on a
 * timer: the numbers are as fresh as the scrape and cost nothing between).
 *
 * Labels: `queue` (queue name), `state` ∈ waiting|active|delayed|prioritized|
 * paused|failed|completed. Only queues passed to {@link registerQueueBacklog}
 * are reported. When reading a queue fails or times out, its previous values
 * stay and {@link queueBacklogErrorsTotal} counts the failure, so one slow
 * Redis never fails the whole scrape. Several processes may report the same
 * queue: aggregate with `max by (queue, state)`, not `sum`.
 */
export const queueJobs = new Gauge({
  name: 'sluice_queue_jobs',
  help: 'Jobs in a BullMQ queue by state, read at scrape time. Aggregate across processes with max, not sum.',
  labelNames: ['queue', 'state'] as const,
  registers: [registry],
  collect() {
    // All queues in parallel: the scrape takes as long as the slowest read.
    backlogInFlight = Promise.all([...backlogQueues].map((entry) => collectBacklog(this, entry))).then(() => undefined);
    return backlogInFlight;
  },
});

// The registry reads all metrics concurrently; the error counter waits for the
// backlog read of the same scrape so that it reports that scrape's failures.
let backlogInFlight: Promise<void> | undefined;

/**
 * Failed or timed-out reads of a queue's counts for {@link queueJobs}, by
 * `queue`. Non-zero means `sluice_queue_jobs` for that queue is stale.
 */
export const queueBacklogErrorsTotal = new Counter({
  name: 'sluice_queue_backlog_errors_total',
  help: 'Failed or timed-out reads of queue counts at scrape time (sluice_queue_jobs is stale), by queue.',
  labelNames: ['queue'] as const,
  registers: [registry],
  async collect() {
    await backlogInFlight;
  },
});

async function collectBacklog(gauge: Gauge<'queue' | 'state'>, entry: BacklogEntry): Promise<void> {
  const { queue, logger, timeoutMs } = entry;
  let timer: NodeJS.Timeout | undefined;
  try {
    // ioredis queues commands while disconnected, so without a deadline a
    // Redis outage would hang the scrape until Prometheus gives up on it.
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`getJobCounts timed out after ${timeoutMs} ms`)), timeoutMs);
    });
    const counts = await Promise.race([queue.getJobCounts(...QUEUE_STATES), timeout]);
    for (const state of QUEUE_STATES) {
      gauge.set({ queue: queue.name, state }, counts[state] ?? 0);
    }
  } catch (err) {
    queueBacklogErrorsTotal.inc({ queue: queue.name });
    logger.warn(
      { err, queue: queue.name },
      'metrics: reading queue counts failed; sluice_queue_jobs keeps its previous values',
    );
  } finally {
    clearTimeout(timer);
  }
}

/** Options of {@link registerQueueBacklog}. */
export interface RegisterQueueBacklogOptions {
  /** Where collect failures are logged. Default: a pino logger named `sluice-metrics`. */
  logger?: BacklogLogger;
  /** Deadline for one queue's counts at scrape time, ms. Default 2000 (Prometheus' default scrape timeout is 10 s). */
  timeoutMs?: number;
}

/**
 * Reports the backlog of these queues in {@link queueJobs} at every scrape.
 * Registering the same queue object again is a no-op.
 *
 * @returns a function that stops reporting these queues and removes their
 * series (call it before closing the queues, or a scrape would use a closed
 * connection).
 */
export function registerQueueBacklog(
  queues: readonly BacklogQueue[],
  opts: RegisterQueueBacklogOptions = {},
): () => void {
  const logger = opts.logger ?? fallbackLogger();
  const timeoutMs = opts.timeoutMs ?? 2000;
  const added: BacklogEntry[] = [];
  for (const queue of queues) {
    if ([...backlogQueues].some((e) => e.queue === queue)) continue;
    const entry = { queue, logger, timeoutMs };
    backlogQueues.add(entry);
    added.push(entry);
    queueBacklogErrorsTotal.inc({ queue: queue.name }, 0);
  }
  return () => {
    for (const entry of added) {
      backlogQueues.delete(entry);
      // Another registered queue object may share the name (two processes'
      // worth of queues in one test); keep its series then.
      if (![...backlogQueues].some((e) => e.queue.name === entry.queue.name)) {
        for (const state of QUEUE_STATES) queueJobs.remove({ queue: entry.queue.name, state });
        queueBacklogErrorsTotal.remove({ queue: entry.queue.name });
      }
    }
  };
}
