/**
 * `sluice status`: queue counts from BullMQ and row counts from Postgres.
 */
import { QUEUE_NAMES, type QueueName } from '../queue/contracts.ts';
import type { Runtime } from '../runtime/runtime.ts';

export interface Status {
  queues: Record<QueueName, Record<string, number>>;
  database: { mode: string; url: string; collections: number; documents: number; chunks: number; embeddings: number };
  /** USD spent on embeddings, from the cost ledger. */
  spentUsd: number;
}

const STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'completed', 'failed'] as const;

export async function getStatus(rt: Runtime): Promise<Status> {
  const entries = await Promise.all(
    QUEUE_NAMES.map(async (q) => [q, await rt.queues[q].getJobCounts(...STATES)] as const),
  );
  const { rows } = await rt.db.pool.query<Record<string, string>>(
    `SELECT (SELECT count(*) FROM collections) AS collections, (SELECT count(*) FROM documents) AS documents,
            (SELECT count(*) FROM chunks) AS chunks, (SELECT count(*) FROM embeddings) AS embeddings,
            (SELECT coalesce(sum(usd), 0) FROM cost_ledger) AS spent`,
  );
  const r = rows[0]!;
  return {
    queues: Object.fromEntries(entries) as Status['queues'],
    database: {
      mode: rt.db.mode,
      url: rt.db.displayUrl,
      collections: Number(r.collections),
      documents: Number(r.documents),
      chunks: Number(r.chunks),
      embeddings: Number(r.embeddings),
    },
    spentUsd: Number(r.spent),
  };
}
