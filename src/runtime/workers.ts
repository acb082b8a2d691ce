/**
 * Runs BullMQ workers for a set of queues with one wrapper around every
 * processor: payload validation, the retry decision by error type, run
 * bookkeeping (finished / finally failed), metrics and one log line per job.
 * The workers of one process share a {@link DependencyMonitor}: while Redis
 * or Postgres is down they take no jobs, and a job interrupted by the outage
 * waits for it and runs again instead of failing (docs/design.md,
 * "Dependency outages").
 */
import { redactSecrets } from '../log/redact.ts';
import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import { ZodError } from 'zod';
import { processorFor } from '../../jobs/registry.ts';
import {
  asError,
  DependencyUnavailableError,
  describeZodError,
  isConnectionError,
  isPermanent,
  JobAbortedError,
  JobDeadlineError,
  LeaseLostError,
  RateLimitedError,
  ShutdownError,
} from '../errors/index.ts';
import type { Logger } from '../log/logger.ts';
import { documentsTotal, initLabels, jobsTotal, observeJob } from '../metrics/metrics.ts';
import { PAYLOAD_SCHEMAS, type QueueName } from '../queue/contracts.ts';
import { jobKey } from '../queue/job-ids.ts';
import { createRedis } from '../queue/redis.ts';
import { poolWithSignal, sleepFor, waitFor } from './deadline.ts';
import { DependencyMonitor } from './dependencies.ts';
import type { JobContext } from './job-context.ts';
import type { Runtime } from './runtime.ts';

/** What `/readyz` reports: `ok` decides 200 or 503; `checks` says why, one entry per dependency and worker. */
export interface Readiness {
  ok: boolean;
  checks: Record<string, string>;
}

export interface RunningWorkers {
  workers: Worker[];
  /** The reachability of Redis and Postgres as these workers see it. */
  dependencies: DependencyMonitor;
  /**
   * Ready when Redis and Postgres answer and every worker is fetching: it
   * fetched or started a job within `READY_FETCH_STALL_MS`, or all its
   * slots are busy, or the API asked it to wait (429).
   */
  readiness(): Readiness;
  /** Stops taking jobs and waits for active ones (bounded by the caller). */
  close(force?: boolean): Promise<void>;
}

/**
 * A lost connection whose dependency answers again at once (a blip) is retried
 * in place this many times per job; more means the job itself breaks the
 * connection, and it fails as any other error would.
 */
const MAX_BLIPS_PER_JOB = 3;

/** How far a job that outwaited `DEPENDENCY_WAIT_MS` is delayed when handed back, ms. */
const HANDBACK_DELAY_MS = 5_000;

/**
 * A BullMQ Worker that remembers when it last fetched from Redis. BullMQ
 * fetches through `moveToActive` after every blocking wait (at most
 * drainDelay, 5 s, when idle), so a worker whose blocking connection stopped
 * returning stops stamping here, and `/readyz` sees it.
 */
class ObservedWorker extends Worker {
  /** Epoch ms of the last fetch that returned (with or without a job) or job start. */
  lastFetchAt = Date.now();
  /** Jobs this worker is processing now. */
  active = 0;
  /** Epoch ms until which the API asked this worker's queue to wait (429). */
  idleUntil = 0;
  /** Paused by the dependency monitor (not by an operator). */
  pausedForDependency = false;

  protected override async moveToActive(token: string, name?: string): Promise<Job> {
    const job = await super.moveToActive(token, name);
    this.lastFetchAt = Date.now();
    return job;
  }
}

/**
 * Runs `fn`; when it fails while Redis or Postgres is down (or with a lost
 * connection), waits for them and runs it again, so an outage costs the job
 * time, not an attempt. Errors that are the job's own are rethrown at once.
 * @throws DependencyUnavailableError when the dependencies stay down for `waitMs`.
 */
async function outlastOutages<T>(
  fn: () => Promise<T>,
  monitor: DependencyMonitor,
  waitMs: number,
  log: Logger,
  signal?: AbortSignal,
): Promise<T> {
  let blips = 0;
  for (;;) {
    try {
      return await fn();
    } catch (raw) {
      const err = asError(raw);
      if (err instanceof RateLimitedError || err instanceof JobAbortedError || isPermanent(err)) throw err;
      const lostConnection = isConnectionError(err);
      await monitor.probeNow();
      if (monitor.isUp()) {
        if (lostConnection && ++blips <= MAX_BLIPS_PER_JOB) continue;
        throw err;
      }
      const down = [...monitor.downNow().keys()];
      log.warn(
        { waitingFor: down, err: { message: err.message } },
        `interrupted by an outage: waiting for ${down.join(' and ')}`,
      );
      const what = `${down.join(' and ')} to answer`;
      if (!(await waitFor(what, monitor.waitUntilUp(waitMs, signal), signal))) {
        throw new DependencyUnavailableError(`${down.join(' and ')} did not answer for ${waitMs} ms`, down, {
          cause: err,
        });
      }
    }
  }
}

/**
 * Bookkeeping after a paid response (vectors, ledger row, run counters):
 * failing it would make the job pay again on its retry, so any error that is
 * not permanent is retried here, after an outage or a pause of 1 s, until
 * `paidSignal` aborts (the job's deadline or a lost lease).
 */
async function settlePaid<T>(
  fn: () => Promise<T>,
  monitor: DependencyMonitor,
  waitMs: number,
  log: Logger,
  paidSignal: AbortSignal,
): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await outlastOutages(fn, monitor, waitMs, log, paidSignal);
    } catch (raw) {
      const err = asError(raw);
      if (err instanceof JobAbortedError || isPermanent(err)) throw err;
      log.warn({ tries, err: { message: err.message } }, 'bookkeeping after a paid response failed: retrying it alone');
      await sleepFor('a retry of the bookkeeping after a paid response', 1_000, paidSignal);
    }
  }
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
function wrap(rt: Runtime, queue: QueueName, workerRef: { current?: ObservedWorker }, monitor: DependencyMonitor) {
  const entry = processorFor(queue);
  const schema = PAYLOAD_SCHEMAS[queue];
  const waitMs = rt.config.dependencies.waitMs;
  const deadlineMs = rt.config.jobDeadlinesMs[queue];
  // Three declared parameters: BullMQ then hands the processor a signal it aborts on cancelJob.
  return async (job: Job, token?: string, bullSignal?: AbortSignal): Promise<unknown> => {
    const worker = workerRef.current;
    if (worker) {
      worker.active++;
      worker.lastFetchAt = Date.now();
    }
    // `hard` aborts on the deadline and a lost lock; `soft` also on a drain.
    const hard = new AbortController();
    const soft = new AbortController();
    const onHard = () => soft.abort(hard.signal.reason);
    hard.signal.addEventListener('abort', onHard, { once: true });
    const deadline = setTimeout(
      () => hard.abort(new JobDeadlineError(`${queue} job deadline of ${Math.round(deadlineMs / 1000)} s passed`)),
      deadlineMs,
    );
    const onBull = () => {
      const reason: unknown = bullSignal?.reason;
      if (reason instanceof ShutdownError) soft.abort(reason);
      else hard.abort(reason instanceof JobAbortedError ? reason : new LeaseLostError(`job ${job.id} was cancelled`));
    };
    bullSignal?.addEventListener('abort', onBull, { once: true });
    try {
      return await runJob(job, token, soft.signal, hard.signal);
    } finally {
      clearTimeout(deadline);
      bullSignal?.removeEventListener('abort', onBull);
      if (worker) worker.active--;
    }
  };

  /** The context of one attempt: the runtime's, with its signals, delivery and a pool that honours them. */
  function jobContext(job: Job, token: string | undefined, signal: AbortSignal, paidSignal: AbortSignal, log: Logger) {
    const base = rt.context;
    const ctx: JobContext = {
      ...base,
      signal,
      paidSignal,
      delivery: `${job.id}#${token ?? 'local'}`,
      db: {
        ...base.db,
        pool: poolWithSignal(base.db.pool, signal),
        write: (fn) => base.db.write((pool) => fn(poolWithSignal(pool, paidSignal))),
      },
      afterPaid: (fn) => settlePaid(fn, monitor, waitMs, log, paidSignal),
    };
    return ctx;
  }

  async function runJob(
    job: Job,
    token: string | undefined,
    signal: AbortSignal,
    paidSignal: AbortSignal,
  ): Promise<unknown> {
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
      const ctx = jobContext(job, token, signal, paidSignal, log);
      const result = await outlastOutages(
        () => entry.process(job, payload as never, ctx),
        monitor,
        waitMs,
        log,
        signal,
      );
      if (runId) await outlastOutages(() => rt.tracker.finishJob(runId, key), monitor, waitMs, log, paidSignal);
      const seconds = (performance.now() - started) / 1000;
      observeJob(queue, 'completed', seconds);
      log.info({ durationMs: Math.round(seconds * 1000), result }, 'job completed');
      return result;
    } catch (raw) {
      const err = asError(raw);
      // Credentials in URLs never reach a failure reason, a job's failedReason or a log line (docs/design.md, "Secrets").
      err.message = redactSecrets(err.message);
      source = redactSecrets(source);
      if (err instanceof RateLimitedError && workerRef.current) {
        // Pause the whole queue for as long as the API asked, then retry this
        // job without burning an attempt (BullMQ's queue rate limit).
        jobsTotal.inc({ queue, outcome: 'rate_limited' });
        log.warn({ waitMs: err.waitMs, type: err.type }, 'rate limited by the API: pausing the queue');
        workerRef.current.idleUntil = Date.now() + err.waitMs;
        await workerRef.current.rateLimit(err.waitMs);
        throw Worker.RateLimitError();
      }
      if (err instanceof ShutdownError && token !== undefined) {
        // The process drains: hand the job back at once, attempts untouched.
        log.info({ err: { message: err.message } }, 'draining: job handed back, attempts untouched');
        await job.moveToDelayed(Date.now(), token);
        throw new DelayedError();
      }
      if (err instanceof LeaseLostError) {
        // A redelivery owns this job now: stop here, before paying again.
        // BullMQ cannot finish this delivery (its lock is gone) and says so.
        log.warn({ err: { message: err.message } }, 'lease lost: this delivery stops, the redelivery goes on');
        throw err;
      }
      if (err instanceof DependencyUnavailableError && token !== undefined) {
        // The outage outlasted DEPENDENCY_WAIT_MS: hand the job back delayed,
        // its attempts untouched (BullMQ's manual delay). When Redis itself is
        // down this fails too, and the job returns once its lock expires.
        log.warn({ err: { message: err.message } }, 'outage outlasted the wait: job handed back, attempts untouched');
        await job.moveToDelayed(Date.now() + HANDBACK_DELAY_MS, token);
        throw new DelayedError();
      }
      const permanent = isPermanent(err);
      const final = permanent || attempt >= maxAttempts;
      const seconds = (performance.now() - started) / 1000;
      observeJob(queue, final ? 'failed' : 'retried', seconds);
      // A crawl job that failed for good is a document that could not be fetched, read or parsed.
      if (final && queue === 'crawl') documentsTotal.inc({ outcome: 'failed' });
      if (final && runId) {
        const failure = {
          source,
          error: err.message,
          errorName: err.name,
          queue,
          jobId: String(job.id),
          transient: !permanent,
        };
        await outlastOutages(() => rt.tracker.failJob(runId, key, failure), monitor, waitMs, log, paidSignal);
      }
      log[final ? 'error' : 'warn'](
        { durationMs: Math.round(seconds * 1000), err: { message: err.message, name: err.name } },
        final ? 'job failed' : 'job will be retried',
      );
      if (permanent && !(err instanceof UnrecoverableError)) throw new UnrecoverableError(err.message);
      throw err;
    }
  }
}

/** BullMQ's reason for a job whose process died under it more than `maxStalledCount` times. */
const STALLED_TOO_OFTEN = 'job stalled more than allowable limit';

/** Records in its run a job BullMQ failed for stalling too often (its processor never saw the last delivery). */
async function recordStalledTooOften(rt: Runtime, queue: QueueName, job: Job, monitor: DependencyMonitor) {
  const { config, logger } = rt;
  const log = logger.child({ queue, jobId: job.id });
  observeJob(queue, 'failed', 0);
  log.error(
    { maxStalls: config.workers.maxStalls },
    'job failed: its process died under it (or stopped past its lock) more than JOB_MAX_STALLS times',
  );
  const runId = typeof job.data?.runId === 'string' ? (job.data.runId as string) : undefined;
  if (!runId) return;
  const failure = {
    source: `${queue} job ${job.id}`,
    error: `${STALLED_TOO_OFTEN}: its process died or stopped past its lock on ${config.workers.maxStalls + 1} deliveries (JOB_MAX_STALLS=${config.workers.maxStalls})`,
    queue,
    jobId: String(job.id),
    // Nothing says the source is gone: it counts against deletion sync.
    transient: true,
  };
  await outlastOutages(
    () => rt.tracker.failJob(runId, jobKey(queue, String(job.id)), failure),
    monitor,
    config.dependencies.waitMs,
    log,
  ).catch((err: unknown) =>
    log.warn({ err: { message: (err as Error).message } }, 'could not record the failure in its run'),
  );
}

/** One worker's fetch state for `/readyz`: `ok` or why not. */
function fetchState(w: ObservedWorker, concurrency: number, stallMs: number, now: number): string {
  if (w.closing) return 'closing';
  if (w.pausedForDependency) return 'paused: waiting for a dependency';
  if (!w.isRunning()) return 'not running';
  if (w.active >= concurrency) return 'ok';
  if (now < w.idleUntil + stallMs) return 'ok';
  const idleMs = now - w.lastFetchAt;
  if (idleMs <= stallMs) return 'ok';
  return `not fetching: no fetch returned for ${Math.round(idleMs / 1000)} s with ${concurrency - w.active} free slots`;
}

/**
 * Starts one worker per queue on its own blocking connection, and the
 * dependency monitor that pauses them through outages.
 * @throws NoProcessorError when a queue has no processor.
 */
export function startWorkers(rt: Runtime, queues: QueueName[]): RunningWorkers {
  const { config, logger } = rt;
  const monitor = new DependencyMonitor(
    [
      { name: 'redis', check: () => rt.redis.ping() },
      { name: 'postgres', check: () => rt.db.ping(config.dependencies.probeTimeoutMs) },
    ],
    { intervalMs: config.dependencies.probeMs, timeoutMs: config.dependencies.probeTimeoutMs, logger },
  );
  const refs = queues.map(() => ({}) as { current?: ObservedWorker });
  // Built before any worker starts, so a queue without a processor fails first.
  const processors = queues.map((q, i) => [q, wrap(rt, q, refs[i]!, monitor), refs[i]!] as const);
  // Every series of these queues and the model exists at 0 from the start,
  // so the first failure is an increase that alerts can see.
  initLabels({ queues, models: [config.embedding.model] });
  const workers = processors.map(([queue, processor, ref]) => {
    const connection = createRedis(config, 'blocking');
    const worker = new ObservedWorker(queue, processor, {
      connection,
      prefix: config.redis.prefix,
      concurrency: concurrencyFor(rt, queue),
      // A killed worker's jobs return to the queue after the lock expires.
      lockDuration: config.workers.lockMs,
      stalledInterval: Math.max(1_000, Math.floor(config.workers.lockMs / 2)),
      maxStalledCount: config.workers.maxStalls,
      // After a failed fetch (Redis away), try again in 2 s, not BullMQ's 15 s.
      runRetryDelay: 2_000,
    });
    // Listener errors must not crash the process: log them.
    worker.on('error', (err) => {
      // A lost connection is the monitor's to report, once per outage, not
      // once per reconnect attempt of every connection.
      if (isConnectionError(err)) logger.debug({ queue, err: { message: err.message } }, 'worker connection error');
      else logger.error({ queue, err: { message: err.message } }, 'worker error');
    });
    worker.on('closed', () => connection.disconnect());
    // A job past JOB_MAX_STALLS is failed by BullMQ without calling the
    // processor, so the wrapper cannot record it: record it here, or its run
    // would wait for it until a waiter's stall check finds it.
    worker.on('failed', (job, err) => {
      if (job && err.message === STALLED_TOO_OFTEN) void recordStalledTooOften(rt, queue, job, monitor);
    });
    // A lock that could not be renewed belongs to a redelivery soon: abort
    // this delivery's waits before it pays for work the redelivery will do.
    worker.on('lockRenewalFailed', (ids: string[]) => {
      for (const id of ids) worker.cancelJob(id, new LeaseLostError(`job ${id} lost its lock`) as unknown as string);
    });
    ref.current = worker;
    return worker;
  });
  monitor.onChange((down) => {
    for (const w of workers) {
      if (w.closing) continue;
      if (down.size > 0 && !w.pausedForDependency) {
        w.pausedForDependency = true;
        // Stop taking jobs; active ones go on (and wait in outlastOutages).
        void w.pause(true);
      } else if (down.size === 0 && w.pausedForDependency) {
        w.pausedForDependency = false;
        w.lastFetchAt = Date.now();
        void w.resume();
      }
    }
  });
  if (queues.length > 0) monitor.start();
  return {
    workers,
    dependencies: monitor,
    readiness() {
      const now = Date.now();
      const checks: Record<string, string> = {};
      for (const name of ['redis', 'postgres'] as const) {
        const down = monitor.downNow().get(name);
        checks[name] = down ? `down for ${Math.round((now - down.since) / 1000)} s: ${down.error}` : 'ok';
      }
      workers.forEach((w, i) => {
        const queue = queues[i]!;
        checks[`worker:${queue}`] = fetchState(w, concurrencyFor(rt, queue), config.readyFetchStallMs, now);
      });
      return { ok: Object.values(checks).every((v) => v === 'ok'), checks };
    },
    async close(force = false) {
      // Stop fetching, abort every wait (jobs hand themselves back), let
      // requests already sent finish: their jobs wait on `paidSignal`.
      const closing = workers.map((w) => w.close(force));
      for (const w of workers)
        w.cancelAllJobs(new ShutdownError('the worker process is draining') as unknown as string);
      await Promise.all(closing);
      monitor.stop();
    },
  };
}
