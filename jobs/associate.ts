/**
 * The associate processor: a BullMQ flow parent that runs once its upload
 * children are done. It reuses the vector store registered for the fileset
 * hash (touching its last use), or creates one — exactly once under races,
 * through a claim in Postgres — with `expires_after {anchor: last_active_at,
 * days: TTL}` as a safety net, and attaches the files through file batches
 * sliced to the API limit, polling with backoff to completion. Per-file
 * failures are recorded with OpenAI's last_error and the store is reported
 * as partial, never silently as complete. A store or file OpenAI no longer
 * knows (expired, deleted out of band) is recreated or re-uploaded.
 */
import type { Job } from 'bullmq';
import { NotFoundError } from 'openai';
import { classifyOpenAIError } from '../src/openai/errors.ts';
import { fileBatchFilesTotal, filesTotal, vectorStoresTotal } from '../src/metrics/metrics.ts';
import {
  claimFilesetCreation,
  completeFileset,
  ensureFileset,
  filesetFiles,
  forgetFileId,
  forgetStore,
  getFiles,
  getFileset,
  recordFilesetFiles,
  recordStore,
  releaseStaleDeletion,
  reserveStore,
  touchFiles,
} from '../src/store/registry.ts';
import type { AssociatePayload, SyncResult, UploadResult } from '../src/queue/contracts.ts';
import type { JobContext } from '../src/runtime/job-context.ts';
import { FILESET_FILE_STATUS as FF, FILESET_STATUS as FS } from '../src/store/statuses.ts';
import { uploadContent } from './upload.ts';

/** Files per file batch (docs/openai-facts.md, "Vector stores": file_ids 1..2000). */
export const FILE_BATCH_MAX = 2000;
/**
 * A store-creation claim older than this is taken over, ms. The owner
 * creates the store and then attaches and polls every file batch under the
 * same claim, which takes minutes for thousands of files; 10 minutes keeps a
 * live owner's claim while a dead owner holds its fileset back no longer.
 */
const CREATE_CLAIM_STALE_MS = 10 * 60_000;
/**
 * Polling a file batch: first delay and cap, ms (backoff ×1.5). A small
 * batch finishes in well under a second, so the first look comes early; the
 * cap keeps a long batch's polls far below the per-store request limit
 * (docs/openai-facts.md, "Vector stores").
 */
const POLL_FIRST_MS = 100;
const POLL_MAX_MS = 5000;
/** How often a job waiting for another's store creation looks again, ms: one primary-key read. */
const WAIT_POLL_MS = 100;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Does the store still exist and serve? 404 or `expired` means no. */
async function storeAlive(ctx: JobContext, id: string): Promise<boolean> {
  try {
    const store = await ctx.openai.vectorStores.retrieve(id);
    return store.status !== 'expired';
  } catch (err) {
    if (err instanceof NotFoundError) return false;
    throw classifyOpenAIError(err);
  }
}

/** Polls a file batch with backoff until it leaves in_progress. */
async function pollBatch(ctx: JobContext, storeId: string, batchId: string) {
  let delay = POLL_FIRST_MS;
  for (;;) {
    const batch = await ctx.openai.vectorStores.fileBatches.retrieve(batchId, { vector_store_id: storeId });
    if (batch.status !== 'in_progress') return batch;
    await sleep(delay);
    delay = Math.min(POLL_MAX_MS, Math.ceil(delay * 1.5));
  }
}

/**
 * Creates a file batch; a file OpenAI no longer knows (404) is re-uploaded
 * from the kept bytes and the batch is tried again.
 */
async function createBatch(
  ctx: JobContext,
  owner: string,
  storeId: string,
  fileIds: Map<string, string>,
  hashes: string[],
  names: Map<string, string>,
  reuploaded: UploadResult[],
) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await ctx.openai.vectorStores.fileBatches.create(storeId, {
        file_ids: hashes.map((h) => fileIds.get(h)!),
      });
    } catch (err) {
      const missing =
        err instanceof NotFoundError ? hashes.find((h) => err.message.includes(fileIds.get(h)!)) : undefined;
      if (!missing || attempt > hashes.length) throw classifyOpenAIError(err);
      await forgetFileId(ctx.db.pool, missing, fileIds.get(missing)!);
      const again = await uploadContent(ctx, owner, missing, names.get(missing) ?? missing);
      fileIds.set(missing, again.fileId);
      reuploaded.push(again);
      filesTotal.inc({ outcome: 'reuploaded' });
    }
  }
}

/** Attaches every file to the store in batches and records each file's outcome. */
async function attachFiles(
  ctx: JobContext,
  owner: string,
  storeId: string,
  p: AssociatePayload,
  reuploaded: UploadResult[],
) {
  const hashes = p.files.map((f) => f.contentHash);
  const names = new Map(p.files.map((f) => [f.contentHash, f.filename]));
  const rows = await getFiles(ctx.db.pool, hashes);
  const fileIds = new Map<string, string>();
  for (const h of hashes) {
    const id = rows.get(h)?.openaiFileId;
    if (id) fileIds.set(h, id);
  }
  const attachable = hashes.filter((h) => fileIds.has(h));
  const counts = { completed: 0, failed: 0, cancelled: 0, in_progress: 0 };
  for (let i = 0; i < attachable.length; i += FILE_BATCH_MAX) {
    const slice = attachable.slice(i, i + FILE_BATCH_MAX);
    const created = await createBatch(ctx, owner, storeId, fileIds, slice, names, reuploaded);
    const batch = await pollBatch(ctx, storeId, created.id);
    const byFileId = new Map(slice.map((h) => [fileIds.get(h)!, h]));
    const outcomes = new Map<string, { status: string; lastError: unknown }>();
    for await (const f of ctx.openai.vectorStores.fileBatches.listFiles(batch.id, {
      vector_store_id: storeId,
      limit: 100,
    })) {
      const h = byFileId.get(f.id);
      if (h) outcomes.set(h, { status: f.status, lastError: f.last_error });
    }
    await recordFilesetFiles(
      ctx.db.pool,
      p.filesetHash,
      slice.map((h) => ({
        contentHash: h,
        ...(outcomes.get(h) ?? {
          status: FF.failed,
          lastError: { code: 'server_error', message: 'missing from the file batch listing' },
        }),
      })),
    );
    for (const o of outcomes.values()) {
      if (o.status in counts) counts[o.status as keyof typeof counts]++;
      if (o.status === FF.completed || o.status === FF.failed || o.status === FF.cancelled)
        fileBatchFilesTotal.inc({ status: o.status });
    }
  }
  return counts;
}

/** Builds the result from the registry and the children's upload results. */
async function summarize(
  ctx: JobContext,
  p: AssociatePayload,
  job: Job,
  base: { vectorStoreId: string | null; reused: boolean; recreated: boolean; status: SyncResult['status'] },
  reuploaded: UploadResult[],
): Promise<SyncResult> {
  const children = Object.values(await job.getChildrenValues()) as UploadResult[];
  const failures = await job.getIgnoredChildrenFailures().catch(() => ({}) as Record<string, string>);
  const uploaded = new Map<string, UploadResult>();
  for (const c of [...children, ...reuploaded]) if (c?.outcome === 'uploaded') uploaded.set(c.contentHash, c);
  const files = await filesetFiles(ctx.db.pool, p.filesetHash);
  const failedFiles: SyncResult['failedFiles'] = [];
  for (const f of files) {
    if (f.status === FF.failed)
      failedFiles.push({
        filename: f.filename,
        contentHash: f.contentHash,
        error: f.lastError ? `${f.lastError.code ?? 'error'}: ${f.lastError.message ?? ''}` : 'failed',
      });
    else if (!f.openaiFileId)
      failedFiles.push({
        filename: f.filename,
        contentHash: f.contentHash,
        error: `upload failed: ${Object.values(failures).find(() => true) ?? 'see the failed upload jobs'}`,
      });
  }
  let bytesUploaded = 0;
  for (const u of uploaded.values()) bytesUploaded += u.bytes;
  const reusedFiles = p.files.filter(
    (f) => !uploaded.has(f.contentHash) && !failedFiles.some((x) => x.contentHash === f.contentHash),
  );
  const bytesReused = reusedFiles.reduce((s, f) => s + f.bytes, 0);
  return {
    ...base,
    filesetHash: p.filesetHash,
    filesUploaded: [...uploaded.values()].filter((u) => !reuploaded.includes(u)).length,
    filesReused: reusedFiles.length,
    filesReuploaded: reuploaded.length,
    bytesUploaded,
    bytesReused,
    failedFiles,
    status: failedFiles.length && base.status === FS.completed ? FS.partial : base.status,
  };
}

export async function processAssociate(job: Job, p: AssociatePayload, ctx: JobContext): Promise<SyncResult> {
  const owner = String(job.id);
  const pool = ctx.db.pool;
  const reuploaded: UploadResult[] = [];
  let fs = await ensureFileset(
    pool,
    p.filesetHash,
    p.files.map((f) => f.contentHash),
    p.chunkingStrategy,
    p.files,
  );
  let recreated = false;
  await touchFiles(
    pool,
    p.files.map((f) => f.contentHash),
  );
  const deadline = Date.now() + CREATE_CLAIM_STALE_MS * 2;
  for (;;) {
    // Reserve first, then look at OpenAI: once reserved, TTL cleanup skips the
    // store; one it is deleting (`deleting`) fails the reservation and is
    // waited for below, then created again (docs/design.md, "TTL cleanup").
    if (
      fs.vectorStoreId &&
      (fs.status === FS.completed || fs.status === FS.partial) &&
      (await reserveStore(pool, p.filesetHash, fs.vectorStoreId))
    ) {
      if (await storeAlive(ctx, fs.vectorStoreId)) {
        vectorStoresTotal.inc({ outcome: 'reused' });
        return summarize(
          ctx,
          p,
          job,
          { vectorStoreId: fs.vectorStoreId, reused: true, recreated: false, status: fs.status },
          reuploaded,
        );
      }
      // Gone behind Sluice's back (deleted or expired): create it again from the registry.
      await forgetStore(pool, p.filesetHash, fs.vectorStoreId);
      recreated = true;
    }
    if (await claimFilesetCreation(pool, p.filesetHash, owner, CREATE_CLAIM_STALE_MS)) break;
    // A store TTL cleanup is deleting is waited for; one whose cleanup died is taken back.
    if (fs.status === FS.deleting && (await releaseStaleDeletion(pool, 'fileset', p.filesetHash))) {
      fs = (await getFileset(pool, p.filesetHash))!;
      continue;
    }
    if (Date.now() > deadline)
      throw new Error(`vector store creation for fileset ${p.filesetHash} still claimed by another job`);
    await sleep(WAIT_POLL_MS);
    fs = (await getFileset(pool, p.filesetHash))!;
    if (fs.recreated > 0 && fs.vectorStoreId === null) recreated = true;
  }

  fs = (await getFileset(pool, p.filesetHash))!;
  let storeId = fs.vectorStoreId;
  if (!storeId) {
    try {
      const store = await ctx.openai.vectorStores.create({
        name: `sluice ${p.collection} ${p.filesetHash.slice(0, 12)}`,
        metadata: { sluice_fileset: p.filesetHash.slice(0, 64), sluice_collection: p.collection.slice(0, 512) },
        expires_after: { anchor: 'last_active_at', days: ctx.config.ttlDays },
        chunking_strategy: p.chunkingStrategy,
      });
      storeId = store.id;
      await recordStore(pool, p.filesetHash, store.id, store.expires_at ? new Date(store.expires_at * 1000) : null);
    } catch (err) {
      throw classifyOpenAIError(err);
    }
    recreated ||= fs.recreated > 0;
    vectorStoresTotal.inc({ outcome: recreated ? 'recreated' : 'created' });
  }
  const counts = await attachFiles(ctx, owner, storeId, p, reuploaded);
  const status = counts.failed > 0 || counts.cancelled > 0 ? FS.partial : FS.completed;
  await completeFileset(pool, p.filesetHash, status, counts);
  return summarize(ctx, p, job, { vectorStoreId: storeId, reused: false, recreated, status }, reuploaded);
}
