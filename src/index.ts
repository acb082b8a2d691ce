/**
 * Sluice's TypeScript API for upstream systems: the same operations as the
 * CLI. Typical use:
 *
 * ```ts
 * import { loadConfig, createLogger, openRuntime, startWorkers, ingest } from 'sluice';
 * const config = loadConfig();
 * const rt = await openRuntime(config, createLogger(config.logLevel), { role: 'my-app' });
 * const summary = await ingest(rt, { collection: 'docs', sources: ['https://docs.example.com/'] });
 * await rt.close();
 * ```
 * `ingest` waits for workers; run them in-process with `startWorkers(rt, ['crawl', 'embed'])`
 * or in separate `sluice worker` processes.
 *
 * The OpenAI emulator is the `sluice/emulator` subpath
 * (`import { startEmulator } from 'sluice/emulator'`); this entry never loads it.
 */
export { loadConfig, type Config } from './config/config.ts';
export {
  ConfigError,
  DocumentCpuLimitError,
  OversizeDocumentError,
  PermanentError,
  ProviderMismatchError,
  RedirectOutOfScopeError,
  RunStateLostError,
  SourceRootError,
  SsrfRefusedError,
  StartupError,
} from './errors/index.ts';
export { createLogger, type Logger } from './log/logger.ts';
export { openRuntime, type Runtime, type RuntimeOptions } from './runtime/runtime.ts';
export { startWorkers, type RunningWorkers } from './runtime/workers.ts';
export {
  ingest,
  enqueueIngest,
  waitForRun,
  summarizeRun,
  type IngestRequest,
  type IngestSummary,
  type DeletionHeld,
  type EnqueuedRun,
  type WaitOptions,
} from './ingest/ingest.ts';
export { syncDeletions, type DeletionOutcome } from './ingest/deletion-sync.ts';
export { sync, enqueueSync, type SyncRequest, type SyncSummary, type Sink } from './sync/sync.ts';
export type { SyncResult } from './queue/contracts.ts';
export { filesetHash, type ChunkingStrategy } from './files/fileset.ts';
export {
  addSchedule,
  removeSchedule,
  listSchedules,
  runScheduleNow,
  applySchedulesFile,
  type ScheduleInfo,
} from './schedule/schedules.ts';
export {
  validateSchedule,
  parseSchedulesFile,
  type ScheduleDefinition,
  type ValidScheduleDefinition,
} from './schedule/definition.ts';
export type { SchedulePayload, TickResult } from './queue/contracts.ts';
export { search, type SearchHit, type SearchOptions } from './search/search.ts';
export { exportCollection, type ExportedChunk } from './export/export.ts';
export { getStatus, type Status } from './runs/status.ts';
export { runCleanup, type CleanupOptions, type CleanupReport } from './cleanup/cleanup.ts';
export { sweepOrphans, type SweepReport } from './cleanup/orphans.ts';
export {
  runReconcile,
  latestDrift,
  type ReconcileOptions,
  type ReconcileReport,
  type ReconcileFixes,
  type CollectionCounts,
} from './reconcile/reconcile.ts';
export { DRIFT_KINDS, type DriftKind, type DriftCounts, type DriftItem } from './reconcile/drift.ts';
export { registerExternalStore } from './store/registry.ts';
export { EXTERNAL_STORE_MODE, type ExternalStoreMode } from './store/statuses.ts';
export { deploymentId } from './store/deployment.ts';
// Type only (erased): `Runtime.emulator` is one. `startEmulator` is in `sluice/emulator`.
export type { RunningEmulator } from './openai/emulator.ts';
export { QUEUE_NAMES, type QueueName } from './queue/contracts.ts';
export type { InlineDocument } from './crawl/inline.ts';
export type { PathSource, SourceInput } from './ingest/sources.ts';
export { PAYLOAD_CAPS } from './queue/contracts.ts';
