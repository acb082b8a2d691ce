/**
 * Job payloads: one zod schema per queue, shared by producers (validated
 * before enqueueing) and processors (validated again on receipt, since a
 * payload may come from another version or another producer).
 *
 * Terminology (../shared/DESIGN.md): a **source** is what a producer names;
 * a **run** is the set of jobs one ingest/sync call started; a **chunk hash**
 * is the SHA-256 of a chunk's normalised text.
 */
import { z } from 'zod';
import type { QueueName } from '../src/queue/queues.ts';
import { InlineDocumentSchema } from '../src/crawl/inline.ts';

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 hex digest');
const runId = z.string().min(1);
const collection = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'letters, digits, "_", "." and "-", starting with a letter or digit');

export const CollectionNameSchema = collection;

/** A source as a crawl job carries it. */
export const SourceSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('url'),
    url: z.string().url(),
    /** Links are followed when they are under this URL prefix (same origin, start path's directory). */
    scope: z.string().url(),
    /** Link distance from the start URL. */
    depth: z.number().int().min(0),
  }),
  z.object({
    type: z.literal('path'),
    /** A local file or a directory (walked recursively) — absolute. */
    path: z.string().min(1),
  }),
  z.object({ type: z.literal('inline'), document: InlineDocumentSchema }),
  /** A source string that could not be understood: the job fails with the reason. */
  z.object({ type: z.literal('invalid'), input: z.string(), reason: z.string() }),
]);
export type Source = z.infer<typeof SourceSchema>;

export const CrawlPayloadSchema = z.object({
  runId,
  collection,
  source: SourceSchema,
  limits: z.object({
    maxPages: z.number().int().min(1),
    maxDepth: z.number().int().min(0),
  }),
  /** Hosts the producer named explicitly: allowed even on private networks (SSRF guard). */
  trustedHosts: z.array(z.string()).default([]),
});
export type CrawlPayload = z.infer<typeof CrawlPayloadSchema>;

export const EmbedPayloadSchema = z.object({
  runId,
  collection,
  /** For failure reports: the document whose chunks these are. */
  source: z.string(),
  model: z.string().min(1),
  dimensions: z.number().int().min(1),
  /** Unique chunk hashes that had no embedding when the job was enqueued. */
  chunkHashes: z.array(sha256Hex).min(1),
});
export type EmbedPayload = z.infer<typeof EmbedPayloadSchema>;

export const UploadPayloadSchema = z.object({
  runId,
  collection,
  /** SHA-256 of the file's bytes (line endings normalised for text); the bytes are in file_blobs. */
  contentHash: sha256Hex,
  /** The name OpenAI gets (its extension decides the parser). */
  filename: z.string().min(1),
  /** Where the bytes came from, for failure reports. */
  source: z.string().min(1),
});
export type UploadPayload = z.infer<typeof UploadPayloadSchema>;

export const ChunkingStrategySchema = z.union([
  z.object({ type: z.literal('auto') }),
  z.object({
    type: z.literal('static'),
    static: z.object({ max_chunk_size_tokens: z.number().int().min(100).max(4096), chunk_overlap_tokens: z.number().int().min(0) }),
  }),
]);

export const AssociatePayloadSchema = z.object({
  runId,
  collection,
  /** Order-independent hash of the sorted content hashes plus the chunking strategy. */
  filesetHash: sha256Hex,
  /** Every file of the fileset, by content hash (first name seen). */
  files: z.array(z.object({ contentHash: sha256Hex, filename: z.string().min(1), bytes: z.number().int().min(0) })).min(1),
  chunkingStrategy: ChunkingStrategySchema,
  /** Hashes already uploaded when the sync was enqueued (no upload job was needed). */
  knownHashes: z.array(sha256Hex).default([]),
});
export type AssociatePayload = z.infer<typeof AssociatePayloadSchema>;

export const CleanupPayloadSchema = z.object({
  /** Delete what was not used for this many days (default: TTL_DAYS). */
  ttlDays: z.number().int().min(1).optional(),
  dryRun: z.boolean().default(false),
});
export type CleanupPayload = z.infer<typeof CleanupPayloadSchema>;

/** One typed map from queue name to payload schema, shared by producers and processors. */
export const PAYLOAD_SCHEMAS = {
  crawl: CrawlPayloadSchema,
  embed: EmbedPayloadSchema,
  upload: UploadPayloadSchema,
  associate: AssociatePayloadSchema,
  cleanup: CleanupPayloadSchema,
} as const satisfies Record<QueueName, z.ZodType>;

export type Payloads = { [Q in QueueName]: z.infer<(typeof PAYLOAD_SCHEMAS)[Q]> };
