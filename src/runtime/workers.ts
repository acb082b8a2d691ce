/**
 * Runs BullMQ workers for a set of queues with one wrapper around every
 * processor: payload validation, the retry decision by error type, run
 * bookkeeping (finished / finally failed), metrics and one log line per job.
 */
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { RateLimitedError } from '../errors/index.ts';
import { ZodError } from 'zod';
import { PAYLOAD_SCHEMAS } from '../queue/contracts.ts';
import { processorFor } from '../../jobs/registry.ts';
import { asError, describeZodError, isPermanent } from '../errors/index.ts';
import { jobKey } from '../queue/job-ids.ts';
import type { QueueName } from '../queue/contracts.ts';
import { createRedis } from '../queue/redis.ts';
import { documentsTotal, jobsTotal, observeJob } from '../metrics/metrics.ts';
import type { Runtime } from './runtime.ts';

export interface RunningWorkers {
  workers: Worker[];
  /** Stops taking jobs and waits for active ones (bounded by the caller). */
  close(force?: boolean): Promise<void>;
}

/** Concurrency per queue from configuration. */
function concurrencyFor(rt: Runtime, queue: QueueName): number {
  if (queue === 'crawl') return rt.config.workers.crawlConcurrency;
  if (queue === 'embed') return rt.config.workers.embedConcurrency;
  if (queue === 'upload') return rt.config.workers.uploadConcurrency;
  if (queue === 'schedule') return rt.config.workers.scheduleConcurrency;
  return 2;
}

/** Wraps a processor: the whole per-job policy lives here. */
function wrap(rt: Runtime, queue: QueueName, workerRef: { current?: Worker }) {
  const entry = processorFor(queue);
  const schema = PAYLOAD_SCHEMAS[queue];
  return async (job: Job): Promise<unknown> => {
    const started = performance.now();
    const maxAttempts = job.opts.attempts ?? 1;
    const attempt = job.attemptsMade + 1;
    const log = rt.logger.child({ queue, jobId: job.id, attempt: `${attempt} of ${maxAttempts}` });
    const runId = typeof job.data?.runId === 'string' ? (job.data.runId as string) : undefined;
    const key = jobKey(queue, String(job.id));
    let source = `${queue} job ${job.id}`;
    try {
      let payload: unknown;
      try {
        payload = schema.parse(job.data);
      } catch (err) {
        if (err instanceof ZodError) throw new UnrecoverableError(`invalid ${queue} payload: ${describeZodError(err)}`);
        throw err;
      }
      source = entry.describe(payload as never);
      const result = await entry.process(job, payload as never, rt.context);
      if (runId) await rt.tracker.finishJob(runId, key);
      const seconds = (performance.now() - started) / 1000;
      observeJob(queue, 'completed', seconds);
      log.info({ durationMs: Math.round(seconds * 1000), result }, 'job completed');
      return result;
    } catch (raw) {
      const err = asError(raw);
      if (err instanceof RateLimitedError && workerRef.current) {
        // Pause the whole queue for as long as the API asked, then retry this
        // job without burning an attempt (BullMQ's queue rate limit).
        jobsTotal.inc({ queue, outcome: 'rate_limited' });
        log.warn({ waitMs: err.waitMs, type: err.type }, 'rate limited by the API: pausing the queue');
        await workerRef.current.rateLimit(err.waitMs);
        throw Worker.RateLimitError();
      }
      const permanent = isPermanent(err);
      const final = permanent || attempt >= maxAttempts;
      const seconds = (performance.now() - started) / 1000;
      observeJob(queue, final ? 'failed' : 'retried', seconds);
      // A crawl job that failed for good is a document that could not be fetched, read or parsed.
      if (final && queue === 'crawl') documentsTotal.inc({ outcome: 'failed' });
      if (final && runId) {
        await rt.tracker.failJob(runId, key, {
          source,
          error: err.message,
          queue,
          jobId: String(job.id),
          transient: !permanent,
        });
      }
      log[final ? 'error' : 'warn'](
        { durationMs: Math.round(seconds * 1000), err: { message: err.message, name: err.name } },
        final ? 'job failed' : 'job will be retried',
      );
      if (permanent && !(err instanceof UnrecoverableError)) throw new UnrecoverableError(err.message);
      throw err;
    }
  };
}

/**
 * Starts one worker per queue on its own blocking connection.
 * @throws NoProcessorError when a queue has no processor.
 */
export function startWorkers(rt: Runtime, queues: QueueName[]): RunningWorkers {
  const refs = queues.map(() => ({}) as { current?: Worker });
  const processors = queues.map((q, i) => [q, wrap(rt, q, refs[i]!), refs[i]!] as const); // fails before any worker starts
  const workers = processors.map(([queue, processor, ref]) => {
    const connection = createRedis(rt.config, 'worker');
    const worker = new Worker(queue, processor, {
      connection,
      prefix: rt.config.redis.prefix,
      concurrency: concurrencyFor(rt, queue),
      // A killed worker's jobs return to the queue after the lock expires.
      lockDuration: 30_000,
      stalledInterval: 15_000,
      maxStalledCount: 2,
    });
    // Listener errors must not crash the process: log them.
    worker.on('error', (err) => rt.logger.error({ queue, err: { message: err.message } }, 'worker error'));
    worker.on('closed', () => connection.disconnect());
    ref.current = worker;
    return worker;
  });
  return {
    workers,
    async close(force = false) {
      await Promise.all(workers.map((w) => w.close(force)));
    },
  };
}
