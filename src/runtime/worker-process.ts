/**
 * Entry point shared by `sluice worker` and workers/*.ts: opens the runtime,
 * starts workers for the given queues, serves /metrics, /healthz (liveness)
 * and /readyz (readiness) when METRICS_PORT is set, and drains on
 * SIGTERM/SIGINT. A worker started while Redis or Postgres is down waits for
 * them (`STARTUP_WAIT_MS`), alive and not ready, instead of exiting.
 */
import { PROCESSORS } from '../../jobs/registry.ts';
import { ensureCleanupScheduler } from '../cleanup/cleanup.ts';
import { type Config, loadConfig } from '../config/config.ts';
import { ShutdownError } from '../errors/index.ts';
import { createLogger, type Logger } from '../log/logger.ts';
import { registerQueueBacklog } from '../metrics/backlog.ts';
import { setScheduleSource } from '../metrics/schedules.ts';
import { setDriftSource } from '../metrics/drift.ts';
import { latestDrift } from '../reconcile/reconcile.ts';
import { applySchedulesFile, listSchedules } from '../schedule/schedules.ts';
import { startMetricsServer } from '../metrics/server.ts';
import { QUEUE_NAMES, isQueueName, type QueueName } from '../queue/contracts.ts';
import { openRuntime, type Runtime } from './runtime.ts';
import { openWhenReachable } from './startup.ts';
import { onShutdown } from './signals.ts';
import { type RunningWorkers, startWorkers } from './workers.ts';

/** Parses `all` or queue names. @throws Error naming an unknown queue. */
export function parseQueues(names: string[]): QueueName[] {
  // `all` means every queue this version has a processor for.
  if (names.length === 0 || names.includes('all')) return QUEUE_NAMES.filter((q) => PROCESSORS[q] !== undefined);
  for (const n of names)
    if (!isQueueName(n)) throw new Error(`unknown queue "${n}": use one of ${QUEUE_NAMES.join(', ')} or all`);
  return names as QueueName[];
}

/** What a worker process runs once its runtime is open. */
interface Started {
  rt: Runtime;
  workers: RunningWorkers;
}

/**
 * Opens the runtime (waiting through an outage: src/runtime/startup.ts),
 * upserts the declared schedules and starts the workers.
 */
async function start(
  config: Config,
  logger: Logger,
  queues: QueueName[],
  signal: AbortSignal,
  onWaiting: (what: string | undefined) => void,
): Promise<Started> {
  const rt = await openWhenReachable(
    () => openRuntime(config, logger, { role: `worker-${queues.join('-')}`, workers: true }),
    { deadlineMs: config.workers.startupWaitMs, logger, signal, onWaiting },
  );
  // Every worker process upserts the declared schedules (idempotent: one job scheduler each, however many run);
  // cleanup workers upsert the cleanup queue's own (CLEANUP_CRON).
  try {
    signal.throwIfAborted();
    if (config.schedulesFile) await applySchedulesFile(rt, config.schedulesFile);
    if (queues.includes('cleanup')) await ensureCleanupScheduler(rt);
  } catch (err) {
    await rt.close();
    throw err;
  }
  const workers = startWorkers(rt, queues);
  registerQueueBacklog(queues.map((q) => rt.queues[q]));
  if (queues.includes('cleanup')) setDriftSource(() => latestDrift(rt.db.pool));
  if (queues.includes('schedule'))
    setScheduleSource(async () =>
      (await listSchedules(rt)).map((s) => {
        const success = s.lastSuccessAt ?? s.createdAt;
        return {
          schedule: s.name,
          intervalSeconds: s.intervalSeconds,
          lastSuccessSeconds: success === null ? undefined : Date.parse(success) / 1000,
        };
      }),
    );
  return { rt, workers };
}

export async function runWorkerProcess(queueNames: string[]): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel, 'sluice-worker');
  const queues = parseQueues(queueNames);
  const startup = new AbortController();
  let started: Started | undefined;
  let waiting: string | undefined = 'starting';
  // Served before the runtime opens: a worker waiting for its dependencies is alive (/healthz) but not ready.
  const metrics =
    config.metrics.port !== undefined
      ? await startMetricsServer({
          host: config.metrics.host,
          port: config.metrics.port,
          logger,
          ready: () => started?.workers.readiness() ?? { ok: false, checks: { startup: waiting ?? 'starting' } },
        })
      : undefined;
  const starting = start(config, logger, queues, startup.signal, (what) => {
    waiting = what;
  });
  onShutdown(logger, config.workers.shutdownTimeoutMs, async () => {
    // A signal during startup ends the wait for dependencies; a runtime opened meanwhile is closed.
    startup.abort(new ShutdownError('the process is shutting down'));
    const s = await starting.catch(() => undefined);
    await s?.workers.close();
    await metrics?.close();
    await s?.rt.close();
    logger.info('drained and closed');
  });
  try {
    started = await starting;
  } catch (err) {
    if (startup.signal.aborted) return; // the shutdown handler exits
    await metrics?.close();
    throw err;
  }
  logger.info(
    { queues, metricsPort: metrics?.port, openai: started.rt.openaiTarget, database: started.rt.db.displayUrl },
    'workers started',
  );
}
