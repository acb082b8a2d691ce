/**
 * Deterministic job ids: the same work always gets the same id, so a
 * repeated add (a retried parent, a resumed run, at-least-once delivery) is
 * a no-op in BullMQ instead of a second job. Every id Sluice enqueues is
 * built here. BullMQ reserves ':' in ids, so none contains one.
 *
 * Also the `queue/jobId` keys by which runs name their jobs.
 */
import { createHash } from 'node:crypto';
import type { QueueName } from './contracts.ts';

/** Short stable id fragment: 32 hex chars (128 bits) of SHA-256 over the parts. */
export function idHash(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 32);
}

/** The crawl job of one URL, file or inline document (by its run-wide key) in a run. */
export function crawlJobId(runId: string, key: string): string {
  return `crawl-${runId}-${idHash(key)}`;
}

/** The embed job of one document's missing chunk hashes in a run. */
export function embedJobId(runId: string, uri: string, chunkHashes: readonly string[]): string {
  return `embed-${runId}-${idHash(uri, ...chunkHashes)}`;
}

/** The upload job of one file content (SHA-256 hex) in a sync run. */
export function uploadJobId(runId: string, contentHash: string): string {
  return `upload-${runId}-${contentHash.slice(0, 32)}`;
}

/** The associate job (the flow parent) of a sync run: one per run. */
export function associateJobId(runId: string): string {
  return `associate-${runId}`;
}

/** The repair of one fileset's store in a reconcile run (`sluice reconcile --fix`): an associate job. */
export function repairJobId(runId: string, filesetHash: string): string {
  return `repair-${runId}-${filesetHash.slice(0, 32)}`;
}

/**
 * A tick started now by `sluice schedule run` (scheduled ticks get BullMQ's
 * own `repeat:<scheduler id>:<fire time ms>`).
 */
export function manualTickJobId(schedule: string, millis: number): string {
  return `manual-${schedule}-${millis}`;
}

/**
 * The run a schedule tick starts, derived from the tick's job id alone, so a
 * tick redelivered after its worker died finds its own run again instead of
 * starting another (docs/design.md, "Schedules").
 */
export function tickRunId(tickJobId: string): string {
  return `tick-${tickJobId.replaceAll(':', '-')}`;
}

/** `queue/jobId`: how runs name their jobs. */
export function jobKey(queue: QueueName, jobId: string): string {
  return `${queue}/${jobId}`;
}

/** Inverse of {@link jobKey}. */
export function parseJobKey(key: string): { queue: QueueName; jobId: string } {
  const i = key.indexOf('/');
  return { queue: key.slice(0, i) as QueueName, jobId: key.slice(i + 1) };
}
