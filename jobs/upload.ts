/**
 * The upload processor: one unique file content → one OpenAI File. A
 * content hash the registry knows is reused without any API call;
 * otherwise the job claims the upload in Postgres (so racing jobs upload it
 * once), sends the kept bytes with purpose `assistants` under a filename
 * labelled with the deployment and the content hash, and records the id.
 * A claim taken from an upload that never recorded its File (its worker
 * died between `files.create` and the registry write) first looks for that
 * labelled File and reuses it: one File per content, even across a SIGKILL
 * (docs/design.md, "Labels, orphans and deadlines").
 */
import type { Job } from 'bullmq';
import { toFile } from 'openai';
import { classifyOpenAIError } from '../src/openai/errors.ts';
import { findLabelledFile } from '../src/openai/labelled.ts';
import { labelFilename } from '../src/openai/labels.ts';
import { fileBytesTotal, filesTotal } from '../src/metrics/metrics.ts';
import { PermanentError } from '../src/errors/index.ts';
import {
  claimFileUpload,
  getFiles,
  loadBlob,
  recordUpload,
  releaseStaleDeletion,
  touchFiles,
  uploadClaimStaleMs,
} from '../src/store/registry.ts';
import type { UploadPayload, UploadResult } from '../src/queue/contracts.ts';
import { sleepFor } from '../src/runtime/deadline.ts';
import type { JobContext } from '../src/runtime/job-context.ts';
import { deploymentId } from '../src/store/deployment.ts';
import { FILE_STATUS as F } from '../src/store/statuses.ts';

/** How often a job waiting for another's upload looks again, ms: one primary-key read, cheap at 10/s. */
const WAIT_POLL_MS = 100;

/**
 * Uploads the kept bytes of `contentHash` (reused when known).
 * Shared with associate, which re-uploads files OpenAI lost.
 */
export async function uploadContent(
  ctx: JobContext,
  owner: string,
  contentHash: string,
  filename: string,
): Promise<UploadResult> {
  const staleMs = uploadClaimStaleMs(ctx.config);
  const deadline = Date.now() + staleMs * 2;
  for (;;) {
    const row = (await getFiles(ctx.db.pool, [contentHash])).get(contentHash);
    if (!row) throw new PermanentError(`file ${filename} (${contentHash}) is not registered: sync it again`);
    if (row.openaiFileId) {
      await touchFiles(ctx.db.pool, [contentHash]);
      filesTotal.inc({ outcome: 'reused' });
      fileBytesTotal.inc({ outcome: 'reused' }, row.bytes);
      return { contentHash, fileId: row.openaiFileId, outcome: 'reused', bytes: row.bytes };
    }
    const claim = await claimFileUpload(ctx.db.pool, contentHash, owner, staleMs);
    if (claim) {
      const deployment = await deploymentId(ctx);
      if (claim.previousStatus === F.uploading) {
        // The last owner claimed it and never recorded a File: it may have created one.
        const found = await findLabelledFile(
          ctx.openai,
          deployment,
          contentHash,
          claim.previousClaimedAt ?? new Date(0),
        );
        if (found) {
          await recordUpload(ctx.db.pool, contentHash, found.id);
          // An earlier attempt of this job sent the bytes (it failed before recording them): uploaded, by this job.
          // Another job's File is reused: this job sent nothing.
          const outcome = claim.previousOwner === owner ? 'uploaded' : 'reused';
          ctx.logger.info(
            { contentHash, fileId: found.id, outcome },
            'upload: recorded the File an earlier upload created',
          );
          filesTotal.inc({ outcome });
          fileBytesTotal.inc({ outcome }, found.bytes);
          return { contentHash, fileId: found.id, outcome, bytes: found.bytes };
        }
      }
      const data = await loadBlob(ctx.db.pool, contentHash);
      if (!data)
        throw new PermanentError(`the bytes of ${filename} (${contentHash}) are not kept: sync the file again`);
      await ctx.uploadBudget.restamp(await ctx.uploadBudget.reserve(1));
      let fileId: string;
      try {
        const file = await toFile(data, labelFilename(deployment, contentHash, filename));
        fileId = (await ctx.openai.files.create({ file, purpose: 'assistants' })).id;
      } catch (err) {
        throw classifyOpenAIError(err);
      }
      await recordUpload(ctx.db.pool, contentHash, fileId);
      filesTotal.inc({ outcome: 'uploaded' });
      fileBytesTotal.inc({ outcome: 'uploaded' }, data.length);
      return { contentHash, fileId, outcome: 'uploaded', bytes: data.length };
    }
    // Another job holds the upload, or TTL cleanup is deleting the File: wait
    // for its file id or `deleted` (or for the claim to go stale; a dead
    // cleanup's claim is taken back: docs/design.md, "TTL cleanup").
    if (row.status === F.deleting && (await releaseStaleDeletion(ctx.db.pool, 'file', contentHash))) continue;
    if (Date.now() > deadline) throw new Error(`upload of ${filename} (${contentHash}) still claimed by another job`);
    await sleepFor(`the upload of ${filename} another job holds`, WAIT_POLL_MS, ctx.signal);
  }
}

export async function processUpload(job: Job, p: UploadPayload, ctx: JobContext): Promise<UploadResult> {
  return uploadContent(ctx, String(job.id), p.contentHash, p.filename);
}
