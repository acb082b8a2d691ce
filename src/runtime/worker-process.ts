/**
 * Entry point shared by `sluice worker` and workers/*.ts: opens the runtime,
 * starts workers for the given queues, serves /metrics, /healthz (liveness)
 * and /readyz (readiness) when METRICS_PORT is set, and drains on
 * SIGTERM/SIGINT.
 */
import { PROCESSORS } from '../../jobs/registry.ts';
import { ensureCleanupScheduler } from '../cleanup/cleanup.ts';
import { loadConfig } from '../config/config.ts';
import { createLogger } from '../log/logger.ts';
import { registerQueueBacklog } from '../metrics/backlog.ts';
import { setScheduleSource } from '../metrics/schedules.ts';
import { setDriftSource } from '../metrics/drift.ts';
import { latestDrift } from '../reconcile/reconcile.ts';
import { applySchedulesFile, listSchedules } from '../schedule/schedules.ts';
import { startMetricsServer } from '../metrics/server.ts';
import { QUEUE_NAMES, isQueueName, type QueueName } from '../queue/contracts.ts';
import { openRuntime } from './runtime.ts';
import { onShutdown } from './signals.ts';
import { startWorkers } from './workers.ts';

/** Parses `all` or queue names. @throws Error naming an unknown queue. */
export function parseQueues(names: string[]): QueueName[] {
  // `all` means every queue this version has a processor for.
  if (names.length === 0 || names.includes('all')) return QUEUE_NAMES.filter((q) => PROCESSORS[q] !== undefined);
  for (const n of names)
    if (!isQueueName(n)) throw new Error(`unknown queue "${n}": use one of ${QUEUE_NAMES.join(', ')} or all`);
  return names as QueueName[];
}

export async function runWorkerProcess(queueNames: string[]): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel, 'sluice-worker');
  const queues = parseQueues(queueNames);
  const rt = await openRuntime(config, logger, { role: `worker-${queues.join('-')}`, workers: true });
  // Every worker process upserts the declared schedules (idempotent: one job scheduler each, however many run);
  // cleanup workers upsert the cleanup queue's own (CLEANUP_CRON).
  try {
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
  const metrics =
    config.metrics.port !== undefined
      ? await startMetricsServer({
          host: config.metrics.host,
          port: config.metrics.port,
          logger,
          ready: () => workers.readiness(),
        })
      : undefined;
  logger.info(
    { queues, metricsPort: metrics?.port, openai: rt.openaiTarget, database: rt.db.displayUrl },
    'workers started',
  );
  onShutdown(logger, config.workers.shutdownTimeoutMs, async () => {
    await workers.close();
    await metrics?.close();
    await rt.close();
    logger.info('drained and closed');
  });
}
