/**
 * `sluice status`: queue counts from BullMQ, row counts from Postgres, the
 * storage held at OpenAI and in pgvector with its daily cost, and the TTL
 * cleanup deletions OpenAI refused (docs/design.md, "TTL cleanup").
 */
import { vectorStoreDailyUsd } from '../openai/prices.ts';
import { QUEUE_NAMES, type QueueName } from '../queue/contracts.ts';
import type { Runtime } from '../runtime/runtime.ts';
import { FILE_STATUS as F, FILESET_STATUS as FS } from '../store/statuses.ts';

/** Storage held, from the registry and pgvector. */
export interface StorageStatus {
  openai: {
    vectorStores: number;
    /**
     * Bytes of the files attached to live stores: an estimate of the stores'
     * `usage_bytes` (OpenAI bills parsed chunks and their embeddings, which
     * the registry does not record).
     */
    storeBytes: number;
    files: number;
    fileBytes: number;
    /** Vector store storage per day at OpenAI's price (docs/openai-facts.md, "Vector stores"), USD. */
    dailyUsd: number;
  };
  pgvector: { embeddings: number; vectorBytes: number };
}

/** A cleanup deletion OpenAI refused: the resource is live again and the next run retries it. */
export interface FailedDeletion {
  resource: 'vector_store' | 'file';
  id: string;
  attempts: number;
  error: string;
}
export interface Status {
  queues: Record<QueueName, Record<string, number>>;
  database: { mode: string; url: string; collections: number; documents: number; chunks: number; embeddings: number };
  /** USD spent on embeddings, from the cost ledger. */
  spentUsd: number;
  storage: StorageStatus;
  cleanup: { failedDeletions: FailedDeletion[] };
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
  const {
    rows: [st],
  } = await rt.db.pool.query<Record<string, string>>(
    `SELECT (SELECT count(*) FROM filesets WHERE vector_store_id IS NOT NULL AND status <> '${FS.deleted}') AS stores,
            (SELECT coalesce(sum(f.bytes), 0) FROM filesets s JOIN fileset_files ff ON ff.fileset_hash = s.fileset_hash
               JOIN files f ON f.content_hash = ff.content_hash
             WHERE s.vector_store_id IS NOT NULL AND s.status <> '${FS.deleted}') AS store_bytes,
            (SELECT count(*) FROM files WHERE openai_file_id IS NOT NULL) AS files,
            (SELECT coalesce(sum(bytes), 0) FROM files WHERE openai_file_id IS NOT NULL) AS file_bytes,
            (SELECT coalesce(sum(dimensions * 4), 0) FROM embeddings) AS vector_bytes`,
  );
  const { rows: failed } = await rt.db.pool.query<{
    resource: FailedDeletion['resource'];
    id: string;
    attempts: number;
    error: string;
  }>(
    `SELECT 'vector_store' AS resource, vector_store_id AS id, delete_attempts AS attempts, delete_error AS error
     FROM filesets WHERE delete_error IS NOT NULL AND status <> '${FS.deleted}'
     UNION ALL
     SELECT 'file', openai_file_id, delete_attempts, delete_error
     FROM files WHERE delete_error IS NOT NULL AND status <> '${F.deleted}'
     ORDER BY 1, 2`,
  );
  const storeBytes = Number(st!.store_bytes);
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
    storage: {
      openai: {
        vectorStores: Number(st!.stores),
        storeBytes,
        files: Number(st!.files),
        fileBytes: Number(st!.file_bytes),
        dailyUsd: vectorStoreDailyUsd(storeBytes),
      },
      pgvector: { embeddings: Number(r.embeddings), vectorBytes: Number(st!.vector_bytes) },
    },
    cleanup: { failedDeletions: failed },
  };
}
