/**
 * The associate processor: a BullMQ flow parent that runs once its upload
 * children are done. It reuses the vector store registered for the fileset
 * hash (touching its last use), or creates one — exactly once under races,
 * through a claim in Postgres — labelled with the deployment
 * (src/openai/labels.ts) and with `expires_after {anchor: last_active_at,
 * days: TTL}` as a safety net, and attaches the files through file batches
 * sliced to the API limit. Every poll ends by OPENAI_POLL_DEADLINE_MS: a
 * file still `in_progress` then is detached and re-attached once, and if it
 * is stuck again it is detached and reported in `failedFiles` with its id
 * (docs/design.md, "Labels, orphans and deadlines"). Per-file failures are
 * recorded with OpenAI's last_error and the store is reported as partial,
 * never silently as complete. A store or file OpenAI no longer knows
 * (expired, deleted out of band) is recreated or re-uploaded; a store a
 * dead associate created but never recorded is found by its label and
 * reused. With `repair` (`sluice reconcile --fix`) a live store is brought
 * back to what the registry says instead of being reused as it is.
 */
import type { Job } from 'bullmq';
import { NotFoundError } from 'openai';
import { classifyOpenAIError } from '../src/openai/errors.ts';
import { findLabelledStore } from '../src/openai/labelled.ts';
import { storeMetadata, storeName } from '../src/openai/labels.ts';
import { ASSOCIATE_DEADLINE_MS, pollUntil } from '../src/openai/poll.ts';
import { sleepFor } from '../src/runtime/deadline.ts';
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
  renewFilesetClaim,
  reserveStore,
  touchFiles,
} from '../src/store/registry.ts';
import type { AssociatePayload, SyncResult, UploadResult } from '../src/queue/contracts.ts';
import type { JobContext } from '../src/runtime/job-context.ts';
import { deploymentId } from '../src/store/deployment.ts';
import { FILESET_FILE_STATUS as FF, FILESET_STATUS as FS } from '../src/store/statuses.ts';
import { uploadContent } from './upload.ts';

/** Files per file batch (docs/openai-facts.md, "Vector stores": file_ids 1..2000). */
export const FILE_BATCH_MAX = 2000;
/**
 * A store-creation claim older than this is taken over, ms: the associate's
 * own deadline (src/openai/poll.ts). The owner renews it before each file
 * batch, whose two polls end by OPENAI_POLL_DEADLINE_MS each, so a live
 * owner is never taken over while a dead one holds its fileset back no longer.
 */
const CREATE_CLAIM_STALE_MS = ASSOCIATE_DEADLINE_MS;
/** How often a job waiting for another's store creation looks again, ms: one primary-key read. */
const WAIT_POLL_MS = 100;

/** One file's outcome in the store, as recorded in `fileset_files`. */
interface Outcome {
  status: string;
  lastError: unknown;
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

/** Polls a file batch until it leaves in_progress or the poll deadline passes. */
async function pollBatch(ctx: JobContext, storeId: string, batchId: string) {
  return pollUntil(
    async () => {
      try {
        return await ctx.openai.vectorStores.fileBatches.retrieve(batchId, { vector_store_id: storeId });
      } catch (err) {
        throw classifyOpenAIError(err);
      }
    },
    (batch) => batch.status !== 'in_progress',
    Date.now() + ctx.config.openai.pollDeadlineMs,
    `file batch ${batchId} of ${storeId}`,
    ctx.signal,
  );
}

/** The outcome of each file of a batch (by content hash), from OpenAI's listing of the batch. */
async function batchOutcomes(
  ctx: JobContext,
  storeId: string,
  batchId: string,
  byFileId: Map<string, string>,
): Promise<Map<string, Outcome>> {
  const outcomes = new Map<string, Outcome>();
  try {
    for await (const f of ctx.openai.vectorStores.fileBatches.listFiles(batchId, {
      vector_store_id: storeId,
      limit: 100,
    })) {
      const h = byFileId.get(f.id);
      if (h) outcomes.set(h, { status: f.status, lastError: f.last_error });
    }
  } catch (err) {
    throw classifyOpenAIError(err);
  }
  return outcomes;
}

/** Detaches Files from a store (the Files remain); one already detached is fine. */
async function detach(ctx: JobContext, storeId: string, fileIds: string[]): Promise<void> {
  for (const id of fileIds) {
    try {
      await ctx.openai.vectorStores.files.delete(id, { vector_store_id: storeId });
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw classifyOpenAIError(err);
    }
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

/**
 * Attaches one slice of files (≤ FILE_BATCH_MAX) as a file batch and polls
 * it to its deadline. Files still `in_progress` then are detached and
 * re-attached once, as a second batch with its own deadline; any still
 * `in_progress` after that are detached and reported failed
 * (docs/design.md, "Labels, orphans and deadlines").
 * @returns each file's outcome, by content hash
 */
async function attachSlice(
  ctx: JobContext,
  owner: string,
  storeId: string,
  slice: string[],
  fileIds: Map<string, string>,
  names: Map<string, string>,
  reuploaded: UploadResult[],
): Promise<Map<string, Outcome>> {
  const created = await createBatch(ctx, owner, storeId, fileIds, slice, names, reuploaded);
  const byFileId = new Map(slice.map((h) => [fileIds.get(h)!, h]));
  const first = await pollBatch(ctx, storeId, created.id);
  const outcomes = await batchOutcomes(ctx, storeId, created.id, byFileId);
  const stuck = slice.filter((h) => outcomes.get(h)?.status === FF.in_progress);
  if (!first.timedOut || !stuck.length) return outcomes;

  const deadlineMs = ctx.config.openai.pollDeadlineMs;
  ctx.logger.warn(
    { storeId, batchId: created.id, files: stuck.map((h) => fileIds.get(h)), deadlineMs },
    'associate: files still in_progress at the poll deadline: detaching and re-attaching them once',
  );
  await detach(
    ctx,
    storeId,
    stuck.map((h) => fileIds.get(h)!),
  );
  let retried: Map<string, Outcome>;
  try {
    const again = await ctx.openai.vectorStores.fileBatches.create(storeId, {
      file_ids: stuck.map((h) => fileIds.get(h)!),
    });
    await pollBatch(ctx, storeId, again.id);
    retried = await batchOutcomes(ctx, storeId, again.id, byFileId);
  } catch (err) {
    throw classifyOpenAIError(err);
  }
  const given: string[] = [];
  for (const h of stuck) {
    const o = retried.get(h);
    if (o && o.status !== FF.in_progress) {
      outcomes.set(h, o);
      continue;
    }
    given.push(h);
    outcomes.set(h, {
      status: FF.failed,
      lastError: {
        code: 'deadline_exceeded',
        message: `still in_progress ${deadlineMs} ms after it was attached, and again after it was re-attached once (OPENAI_POLL_DEADLINE_MS): detached`,
      },
    });
  }
  if (given.length) {
    await detach(
      ctx,
      storeId,
      given.map((h) => fileIds.get(h)!),
    );
    ctx.logger.warn(
      { storeId, files: given.map((h) => fileIds.get(h)) },
      'associate: files stuck in_progress after a re-attach: detached and reported failed',
    );
  }
  return outcomes;
}

/** Records outcomes and counts the terminal ones. */
async function record(
  ctx: JobContext,
  p: AssociatePayload,
  hashes: string[],
  outcomes: Map<string, Outcome>,
  counts: Record<string, number>,
): Promise<void> {
  await recordFilesetFiles(
    ctx.db.pool,
    p.filesetHash,
    hashes.map((h) => ({
      contentHash: h,
      ...(outcomes.get(h) ?? {
        status: FF.failed,
        lastError: { code: 'server_error', message: 'missing from the file batch listing' },
      }),
    })),
  );
  for (const h of hashes) {
    const status = outcomes.get(h)?.status ?? FF.failed;
    if (status in counts) counts[status]!++;
    if (status === FF.completed || status === FF.failed || status === FF.cancelled) fileBatchFilesTotal.inc({ status });
  }
}

/** The File id of each file of the fileset that has one, by content hash. */
async function fileIdsOf(ctx: JobContext, hashes: string[]): Promise<Map<string, string>> {
  const rows = await getFiles(ctx.db.pool, hashes);
  const fileIds = new Map<string, string>();
  for (const h of hashes) {
    const id = rows.get(h)?.openaiFileId;
    if (id) fileIds.set(h, id);
  }
  return fileIds;
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
  const fileIds = await fileIdsOf(ctx, hashes);
  const attachable = hashes.filter((h) => fileIds.has(h));
  const counts = { completed: 0, failed: 0, cancelled: 0, in_progress: 0 };
  for (let i = 0; i < attachable.length; i += FILE_BATCH_MAX) {
    // Each batch gets the whole associate deadline: the claim is renewed before it.
    await renewFilesetClaim(ctx.db.pool, p.filesetHash, owner);
    const slice = attachable.slice(i, i + FILE_BATCH_MAX);
    const outcomes = await attachSlice(ctx, owner, storeId, slice, fileIds, names, reuploaded);
    await record(ctx, p, slice, outcomes, counts);
  }
  return counts;
}

/**
 * Brings a live store back to what the registry says (a repair): detaches
 * the Files it should not hold, re-attaches the files it lost (not those
 * recorded as failed: they would fail again), and records what OpenAI
 * reports for every file.
 */
async function repairStore(
  ctx: JobContext,
  owner: string,
  storeId: string,
  p: AssociatePayload,
  reuploaded: UploadResult[],
) {
  const hashes = p.files.map((f) => f.contentHash);
  const names = new Map(p.files.map((f) => [f.contentHash, f.filename]));
  const fileIds = await fileIdsOf(ctx, hashes);
  const wanted = new Map([...fileIds].map(([h, id]) => [id, h]));
  const attached = new Map<string, Outcome>();
  try {
    for await (const f of ctx.openai.vectorStores.files.list(storeId, { limit: 100 }))
      attached.set(f.id, { status: f.status, lastError: f.last_error });
  } catch (err) {
    throw classifyOpenAIError(err);
  }
  const extra = [...attached.keys()].filter((id) => !wanted.has(id));
  await detach(ctx, storeId, extra);
  const recorded = new Map((await filesetFiles(ctx.db.pool, p.filesetHash)).map((f) => [f.contentHash, f]));
  const outcomes = new Map<string, Outcome>();
  const lost: string[] = [];
  for (const [h, id] of fileIds) {
    const o = attached.get(id);
    const was = recorded.get(h);
    if (o && o.status !== FF.cancelled) outcomes.set(h, o);
    else if (was?.status === FF.failed) outcomes.set(h, { status: FF.failed, lastError: was.lastError });
    else lost.push(h);
  }
  for (let i = 0; i < lost.length; i += FILE_BATCH_MAX) {
    const slice = lost.slice(i, i + FILE_BATCH_MAX);
    for (const [h, o] of await attachSlice(ctx, owner, storeId, slice, fileIds, names, reuploaded)) outcomes.set(h, o);
  }
  const counts = { completed: 0, failed: 0, cancelled: 0, in_progress: 0 };
  await record(
    ctx,
    p,
    hashes.filter((h) => fileIds.has(h)),
    outcomes,
    counts,
  );
  ctx.logger.info(
    { storeId, detached: extra.length, reattached: lost.length, counts },
    'associate: repaired the store to the registry',
  );
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
        fileId: f.openaiFileId,
        error: f.lastError ? `${f.lastError.code ?? 'error'}: ${f.lastError.message ?? ''}` : 'failed',
      });
    else if (!f.openaiFileId)
      failedFiles.push({
        filename: f.filename,
        contentHash: f.contentHash,
        fileId: null,
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

/** Creates the fileset's store, labelled, or adopts the one a dead associate created and never recorded. */
async function createStore(
  ctx: JobContext,
  p: AssociatePayload,
  previous: { status: string; claimedAt: Date | null },
): Promise<string> {
  const deployment = await deploymentId(ctx);
  if (previous.status === FS.creating) {
    const found = await findLabelledStore(ctx.openai, deployment, p.filesetHash, previous.claimedAt ?? new Date(0));
    if (found) {
      await recordStore(ctx.db.pool, p.filesetHash, found.id, null);
      ctx.logger.info(
        { filesetHash: p.filesetHash, storeId: found.id },
        'associate: reused the store an earlier job created',
      );
      return found.id;
    }
  }
  try {
    const store = await ctx.openai.vectorStores.create({
      name: storeName(deployment, p.filesetHash, p.collection),
      metadata: storeMetadata(deployment, p.filesetHash, p.collection),
      expires_after: { anchor: 'last_active_at', days: ctx.config.ttlDays },
      chunking_strategy: p.chunkingStrategy,
    });
    await recordStore(
      ctx.db.pool,
      p.filesetHash,
      store.id,
      store.expires_at ? new Date(store.expires_at * 1000) : null,
    );
    return store.id;
  } catch (err) {
    throw classifyOpenAIError(err);
  }
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
    p.collection,
  );
  let recreated = false;
  await touchFiles(
    pool,
    p.files.map((f) => f.contentHash),
  );
  if (p.repair) {
    // Every file needs a File before it can be attached: a lost one is uploaded again from the kept bytes.
    const known = await getFiles(
      pool,
      p.files.map((f) => f.contentHash),
    );
    for (const f of p.files) {
      if (known.get(f.contentHash)?.openaiFileId) continue;
      const r = await uploadContent(ctx, owner, f.contentHash, f.filename);
      if (r.outcome === 'uploaded') {
        reuploaded.push(r);
        filesTotal.inc({ outcome: 'reuploaded' });
      }
    }
  }
  const deadline = Date.now() + CREATE_CLAIM_STALE_MS * 2;
  let claim: Awaited<ReturnType<typeof claimFilesetCreation>>;
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
        let status: SyncResult['status'] = fs.status;
        if (p.repair) {
          const counts = await repairStore(ctx, owner, fs.vectorStoreId, p, reuploaded);
          status = counts.completed === p.files.length ? FS.completed : FS.partial;
          await completeFileset(pool, p.filesetHash, status, counts);
        }
        return summarize(
          ctx,
          p,
          job,
          { vectorStoreId: fs.vectorStoreId, reused: true, recreated: false, status },
          reuploaded,
        );
      }
      // Gone behind Sluice's back (deleted or expired): create it again from the registry.
      await forgetStore(pool, p.filesetHash, fs.vectorStoreId);
      recreated = true;
    }
    claim = await claimFilesetCreation(pool, p.filesetHash, owner, CREATE_CLAIM_STALE_MS);
    if (claim) break;
    // A store TTL cleanup is deleting is waited for; one whose cleanup died is taken back.
    if (fs.status === FS.deleting && (await releaseStaleDeletion(pool, 'fileset', p.filesetHash))) {
      fs = (await getFileset(pool, p.filesetHash))!;
      continue;
    }
    if (Date.now() > deadline)
      throw new Error(`vector store creation for fileset ${p.filesetHash} still claimed by another job`);
    await sleepFor(
      `the store of fileset ${p.filesetHash.slice(0, 12)} another job is creating`,
      WAIT_POLL_MS,
      ctx.signal,
    );
    fs = (await getFileset(pool, p.filesetHash))!;
    if (fs.recreated > 0 && fs.vectorStoreId === null) recreated = true;
  }

  fs = (await getFileset(pool, p.filesetHash))!;
  let storeId = fs.vectorStoreId;
  if (!storeId) {
    storeId = await createStore(ctx, p, { status: claim.previousStatus, claimedAt: claim.previousClaimedAt });
    recreated ||= fs.recreated > 0;
    vectorStoresTotal.inc({ outcome: recreated ? 'recreated' : 'created' });
  }
  const counts = await attachFiles(ctx, owner, storeId, p, reuploaded);
  const status = counts.failed > 0 || counts.cancelled > 0 ? FS.partial : FS.completed;
  await completeFileset(pool, p.filesetHash, status, counts);
  return summarize(ctx, p, job, { vectorStoreId: storeId, reused: false, recreated, status }, reuploaded);
}
