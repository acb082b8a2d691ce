/**
 * `sync`: make an OpenAI vector store hold exactly these files, paying for
 * each unique content once. The producer hashes the files, keeps their
 * bytes (content-addressed, in Postgres), and enqueues a BullMQ flow: an
 * `associate` parent over one `upload` child per content hash the registry
 * has not uploaded yet. With sink `both`, the same files also go through
 * the embed path into pgvector, sharing its dedup.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { realPathUnderRoots } from '../crawl/local.ts';
import { CollectionNameSchema, type SyncResult } from '../queue/contracts.ts';
import { AUTO_CHUNKING, filesetHash, isTextFilename, type ChunkingStrategy } from '../files/fileset.ts';
import { listFiles } from '../files/walk.ts';
import { contentHash } from '../hash/index.ts';
import { enqueueIngest, summarizeRun, waitForRun, type IngestSummary, type WaitOptions } from '../ingest/ingest.ts';
import { associateJobId as associateJobIdOf, uploadJobId } from '../queue/job-ids.ts';
import { PermanentError } from '../errors/index.ts';
import { newRunId } from '../runs/tracker.ts';
import type { RunDeps } from '../runtime/job-context.ts';
import { getFiles, holdFiles, registerFiles, saveBlobs } from '../store/registry.ts';

export type Sink = 'openai' | 'pgvector' | 'both';

export interface SyncRequest {
  collection?: string;
  /**
   * Local files and directories (paths, or file:// URLs), each under
   * SOURCE_ROOTS by its real path (docs/design.md, "Source roots").
   */
  sources: string[];
  /** Default `openai`. */
  sink?: Sink;
  chunkingStrategy?: ChunkingStrategy;
  /** Deletion sync of the pgvector part (sink `pgvector`/`both`); see IngestRequest. */
  deleteMissing?: boolean;
  allowMassDelete?: boolean;
  /**
   * The run's id (a schedule tick derives it from the tick, so a redelivered
   * tick resumes its run): the upload/associate flow runs under it, the
   * pgvector ingest under `<runId>-pgvector`. Default: new ids.
   */
  runId?: string;
}

/** The sync summary: the associate result plus the pgvector ingest with sink `both`/`pgvector`. */
export interface SyncSummary extends Partial<SyncResult> {
  collection: string;
  files: number;
  uniqueFiles: number;
  durationSeconds: number;
  pgvector?: IngestSummary;
}

interface LocalFile {
  path: string;
  filename: string;
  contentHash: string;
  bytes: number;
  data: Buffer;
}

/** Files larger than this are refused, bytes (docs/openai-facts.md, "Files": 512 MB per file). */
const MAX_FILE_BYTES = 512 * 1024 * 1024;

/** Files read at once while hashing. */
const READ_CONCURRENCY = 16;

/** A sync source as a path: file:// URLs are paths said explicitly. */
function syncPath(source: string): string {
  return source.startsWith('file:') ? fileURLToPath(source) : source;
}

async function readFile(p: string, roots: readonly string[]): Promise<LocalFile> {
  await realPathUnderRoots(p, roots);
  const st = await fs.stat(p);
  if (st.size > MAX_FILE_BYTES) throw new PermanentError(`${p}: ${st.size} bytes is over OpenAI's 512 MB file limit`);
  const data = await fs.readFile(p);
  const filename = path.basename(p);
  return { path: p, filename, contentHash: contentHash(data, isTextFilename(filename)), bytes: data.length, data };
}

async function readFiles(paths: string[], roots: readonly string[]): Promise<LocalFile[]> {
  const out: LocalFile[] = new Array(paths.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(READ_CONCURRENCY, paths.length) }, async () => {
      while (next < paths.length) {
        const i = next++;
        out[i] = await readFile(paths[i]!, roots);
      }
    }),
  );
  return out;
}

/**
 * Enqueues the upload/associate flow of a sync.
 * @returns the run and the associate job id to read the result from.
 */
export async function enqueueSync(
  rt: RunDeps,
  request: SyncRequest,
): Promise<{ runId: string; associateJobId: string; files: number; uniqueFiles: number }> {
  const collection = CollectionNameSchema.parse(request.collection ?? 'default');
  const chunking = request.chunkingStrategy ?? AUTO_CHUNKING;
  const roots = rt.config.sources.roots;
  const paths = request.sources.map(syncPath);
  for (const p of paths) await realPathUnderRoots(p, roots);
  const local = await readFiles(await listFiles(paths), roots);
  if (!local.length) throw new PermanentError(`no files in ${request.sources.join(', ')}`);
  const unique = new Map<string, LocalFile>();
  for (const f of local) if (!unique.has(f.contentHash)) unique.set(f.contentHash, f);
  const files = [...unique.values()];
  const hashes = files.map((f) => f.contentHash);

  // Used before read: TTL cleanup cannot take these files after this, and a
  // File it is deleting now reads as not uploaded (docs/design.md, "TTL cleanup").
  await holdFiles(rt.db.pool, hashes);
  const known = await getFiles(rt.db.pool, hashes);
  const missingBlobs = files.filter((f) => !known.get(f.contentHash)?.openaiFileId);
  await saveBlobs(
    rt.db.pool,
    missingBlobs.map((f) => ({ contentHash: f.contentHash, data: f.data })),
  );
  await registerFiles(
    rt.db.pool,
    files.filter((f) => !known.has(f.contentHash)),
  );
  const toUpload = files.filter((f) => !known.get(f.contentHash)?.openaiFileId);

  const runId = request.runId ?? newRunId();
  const associateJobId = associateJobIdOf(runId);
  const parent = {
    queue: 'associate' as const,
    jobId: associateJobId,
    payload: {
      runId,
      collection,
      filesetHash: filesetHash(hashes, chunking),
      chunkingStrategy: chunking,
      files: files.map((f) => ({ contentHash: f.contentHash, filename: f.filename, bytes: f.bytes })),
      knownHashes: hashes.filter((h) => known.get(h)?.openaiFileId),
      repair: false,
    },
  };
  const children = toUpload.map((f) => ({
    queue: 'upload' as const,
    jobId: uploadJobId(runId, f.contentHash),
    payload: { runId, collection, contentHash: f.contentHash, filename: f.filename, source: f.path },
  }));
  // A resumed run (same id) keeps its start time; its jobs have the same ids, so adding them again is a no-op.
  if (!(await rt.tracker.exists(runId))) await rt.tracker.start(runId, { collection, kind: 'sync' });
  await rt.producer.addFlow(parent, children, runId);
  return { runId, associateJobId, files: local.length, uniqueFiles: files.length };
}

/**
 * The associate job's return value. The processor marks the run finished
 * just before BullMQ stores the value, so wait (briefly) for completion.
 */
async function associateResult(rt: RunDeps, jobId: string, timeoutMs = 30_000): Promise<SyncResult | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await rt.producer.queues.associate.getJob(jobId);
    if (job?.returnvalue) return job.returnvalue as SyncResult;
    if (!job || job.failedReason || Date.now() > deadline) return undefined;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Syncs local files into an OpenAI vector store (and/or pgvector) and
 * waits for the result. Workers for upload and associate (and crawl/embed
 * for pgvector) must be running.
 */
export async function sync(rt: RunDeps, request: SyncRequest, options: WaitOptions = {}): Promise<SyncSummary> {
  const started = Date.now();
  const collection = CollectionNameSchema.parse(request.collection ?? 'default');
  const sink = request.sink ?? 'openai';
  const pg =
    sink === 'openai'
      ? undefined
      : await enqueueIngest(rt, {
          collection,
          sources: request.sources.map((s) => ({ path: syncPath(s) })),
          ...(request.deleteMissing !== undefined ? { deleteMissing: request.deleteMissing } : {}),
          ...(request.allowMassDelete !== undefined ? { allowMassDelete: request.allowMassDelete } : {}),
          ...(request.runId !== undefined ? { runId: `${request.runId}-pgvector` } : {}),
        });
  let out: SyncSummary = { collection, files: 0, uniqueFiles: 0, durationSeconds: 0 };
  if (sink !== 'pgvector') {
    const run = await enqueueSync(rt, { ...request, collection });
    const progress = await waitForRun(rt, run.runId, { pollMs: 25, ...options });
    const result = await associateResult(rt, run.associateJobId);
    if (!result) {
      const failures = await rt.tracker.failures(run.runId);
      throw new Error(
        `sync failed: ${failures.map((f) => `${f.source}: ${f.error}`).join('; ') || `associate job ${run.associateJobId} has no result (${progress.failed} jobs failed)`}`,
      );
    }
    out = { ...out, ...result, files: run.files, uniqueFiles: run.uniqueFiles };
  }
  if (pg) {
    await waitForRun(rt, pg.runId, options);
    await rt.tracker.clearActiveRun(pg.runKey, pg.runId);
    out.pgvector = await summarizeRun(rt, pg, started);
  }
  out.durationSeconds = Math.round((Date.now() - started) / 10) / 100;
  return out;
}
