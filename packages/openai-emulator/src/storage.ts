/**
 * The emulator's Files and Vector Stores: the objects, their lifecycle and
 * their JSON forms (spec schemas `OpenAIFile`, `VectorStoreObject`,
 * `VectorStoreFileObject`, `VectorStoreFileBatchObject`). Routes in
 * `files.ts`, `vector-stores.ts`, `vector-store-files.ts` and `search.ts`
 * validate requests and call in here.
 *
 * Time is the emulator clock (`state.clock`), and the lifecycle is settled
 * lazily: every request to these endpoints (and every stats snapshot) first
 * calls {@link Storage.settle}, which
 * - deletes Files whose `expires_after` has passed (detaching them too);
 * - expires stores inactive for `expires_after.days` (since
 *   `last_active_at`): their attachments are deleted, the File objects
 *   remain (docs/openai-facts.md, "Vector stores"); in-progress attachments count as
 *   cancelled for their batch;
 * - finishes processing of attachments whose `fileProcessingDelayMs` has
 *   passed: `completed`, or `failed` with `last_error` `unsupported_file` /
 *   `invalid_file` (see `text-extract.ts`); attachments of Files whose
 *   filename the `holdProcessing` setting matches stay `in_progress`.
 * No timers run, so nothing outlives `close()`, and `advanceClock()` moves
 * every one of these forward at once.
 *
 * `last_active_at` is touched by searches and by file writes (attach,
 * batch, attribute update, detach).
 */
import { chunkTokens } from './chunking.ts';
import type { EmulatorClock } from './clock.ts';
import { fileNotFound, vectorStoreExpired, vectorStoreNotFound, vectorStoreWriteRateLimited } from './errors.ts';
import { formatGoDuration } from './go-duration.ts';
import { newFileBatchId, newFileId, newVectorStoreId } from './ids.ts';
import { RollingWindow } from './limits.ts';
import type { EmulatorSettings } from './options.ts';
import { Sequencer } from './pagination.ts';
import type { StatsCounters } from './stats.ts';
import { extractText } from './text-extract.ts';
import { encodeText } from './tokens.ts';
import { chunkingStrategyJson, type Attributes, type ChunkingStrategy } from './validate.ts';
import { embedText } from './vectors.ts';

const DAY_MS = 86_400_000;
/** Vector length used to score search chunks (the hashing model needs no more). */
export const SEARCH_DIMENSIONS = 512;

/** What storage needs of the emulator state. */
export interface StorageHost {
  readonly clock: EmulatorClock;
  readonly settings: Readonly<EmulatorSettings>;
  readonly counters: StatsCounters;
}

/** A File (`/v1/files`). */
export interface StoredFile {
  id: string;
  filename: string;
  purpose: string;
  bytes: Buffer;
  /** Unix seconds. */
  createdAt: number;
  /** Epoch ms of expiry, or null when kept until deleted. */
  expiresAtMs: number | null;
  /**
   * Parsed and chunked content per chunking strategy, shared by every
   * attachment of this File: a File attached to many stores is processed
   * (and its search vectors computed) once, and held in memory once.
   */
  processed?: Map<string, ProcessedContent>;
}

/** What processing a File gives for one chunking strategy. */
type ProcessedContent =
  | { ok: true; text: string; chunks: Chunk[]; usageBytes: number }
  | { ok: false; code: VsFileError['code']; message: string };

/** Attachment status (spec `VectorStoreFileObject.status`). */
export type VsFileStatus = 'in_progress' | 'completed' | 'failed' | 'cancelled';

/** `last_error` of an attachment. */
export interface VsFileError {
  code: 'server_error' | 'unsupported_file' | 'invalid_file';
  message: string;
}

/** A searchable chunk of a completed attachment. */
export interface Chunk {
  text: string;
  /** Embedded on first search. */
  vector?: Float32Array;
}

/** A File attached to a store (`/vector_stores/{id}/files/{file_id}`). */
export interface VsFile {
  fileId: string;
  vectorStoreId: string;
  filename: string;
  /** Unix seconds. */
  createdAt: number;
  status: VsFileStatus;
  lastError: VsFileError | null;
  usageBytes: number;
  attributes: Attributes;
  chunking: ChunkingStrategy;
  /** Epoch ms at which processing ends. */
  readyAtMs: number;
  batchId: string | null;
  /** Parsed text, once completed. */
  text?: string;
  chunks?: Chunk[];
}

/** A file batch (`/vector_stores/{id}/file_batches/{batch_id}`). */
export interface FileBatch {
  id: string;
  vectorStoreId: string;
  /** Unix seconds. */
  createdAt: number;
  cancelled: boolean;
  /** Its attachments (references: they keep their last status after a detach). */
  files: VsFile[];
}

/** A vector store. */
export interface VectorStore {
  id: string;
  name: string;
  description: string | null;
  metadata: Record<string, string>;
  /** Unix seconds. */
  createdAt: number;
  /** Epoch ms. */
  lastActiveAtMs: number;
  expiresAfterDays: number | null;
  expired: boolean;
  /** Current attachments by File id, in attach order. */
  files: Map<string, VsFile>;
  /** Attachment order numbers (cursors), by File id. */
  fileSeq: Sequencer;
  inProgress: Set<VsFile>;
  batches: Map<string, FileBatch>;
  writes: RollingWindow;
}

/** One attachment to make: a File plus its attributes and strategy. */
export interface AttachSpec {
  fileId: string;
  attributes: Attributes;
  chunking: ChunkingStrategy;
}

/** `file_counts` of a store or batch. */
export interface FileCounts {
  in_progress: number;
  completed: number;
  failed: number;
  cancelled: number;
  total: number;
}

/** All Files and Vector Stores of one emulator. */
export class Storage {
  readonly #host: StorageHost;
  readonly files = new Map<string, StoredFile>();
  readonly fileSeq = new Sequencer();
  readonly stores = new Map<string, VectorStore>();
  readonly storeSeq = new Sequencer();
  readonly #expiringFiles = new Set<StoredFile>();

  constructor(host: StorageHost) {
    this.#host = host;
  }

  get #counters(): StatsCounters {
    return this.#host.counters;
  }

  /** Applies everything the clock has made due; see the module comment. */
  settle(): void {
    const now = this.#host.clock.nowMs();
    for (const f of this.#expiringFiles) {
      if (f.expiresAtMs !== null && now >= f.expiresAtMs) {
        this.#removeFile(f);
        this.#counters.files.expired++;
      }
    }
    for (const store of this.stores.values()) this.#settleStore(store, now);
  }

  #settleStore(store: VectorStore, now: number): void {
    if (store.expired) return;
    if (store.expiresAfterDays !== null && now >= store.lastActiveAtMs + store.expiresAfterDays * DAY_MS) {
      this.#expireStore(store);
      return;
    }
    for (const vf of store.inProgress) if (now >= vf.readyAtMs && !this.#held(vf)) this.#process(store, vf);
  }

  #holdPattern: { source: string; re: RegExp } | undefined;

  /** Is processing of this attachment held by the `holdProcessing` setting? */
  #held(vf: VsFile): boolean {
    const source = this.#host.settings.holdProcessing;
    if (source === null) return false;
    if (this.#holdPattern?.source !== source) this.#holdPattern = { source, re: new RegExp(source) };
    return this.#holdPattern.re.test(vf.filename);
  }

  // --- Files -----------------------------------------------------------------

  /** Stores an upload. */
  createFile(filename: string, purpose: string, bytes: Buffer, expiresAfterSeconds: number | null): StoredFile {
    const nowMs = this.#host.clock.nowMs();
    const file: StoredFile = {
      id: newFileId(),
      filename,
      purpose,
      bytes,
      createdAt: Math.floor(nowMs / 1000),
      expiresAtMs: expiresAfterSeconds === null ? null : nowMs + expiresAfterSeconds * 1000,
    };
    this.files.set(file.id, file);
    this.fileSeq.assign(file.id);
    if (file.expiresAtMs !== null) this.#expiringFiles.add(file);
    this.#counters.recordUpload(bytes);
    return file;
  }

  /**
   * Puts back a File read from a state snapshot (`persistence.ts`), in
   * creation order: it gets the next creation number and, when it expires,
   * joins the expiry set. Nothing is counted as an upload.
   */
  adoptFile(file: StoredFile): void {
    this.files.set(file.id, file);
    this.fileSeq.assign(file.id);
    if (file.expiresAtMs !== null) this.#expiringFiles.add(file);
  }

  /**
   * Puts back a store read from a state snapshot, in creation order: its
   * current attachments (in attach order) and batches are already in it;
   * the unfinished ones go back to processing.
   */
  adoptStore(store: VectorStore): void {
    this.stores.set(store.id, store);
    this.storeSeq.assign(store.id);
    for (const vf of store.files.values()) {
      store.fileSeq.assign(vf.fileId);
      if (vf.status === 'in_progress') store.inProgress.add(vf);
    }
  }

  /**
   * Gives a completed attachment its parsed text and chunks when it has
   * none: one restored from a snapshot (which keeps the bytes, not what they
   * parse into) is processed again on first use, from the same bytes.
   */
  hydrate(vf: VsFile): void {
    if (vf.status !== 'completed' || vf.chunks !== undefined) return;
    const file = this.files.get(vf.fileId);
    if (!file) return;
    const content = this.#contentOf(file, vf.chunking);
    if (!content.ok) return;
    vf.text = content.text;
    vf.chunks = content.chunks;
  }

  /** @throws ApiError 404 */
  getFile(id: string): StoredFile {
    const f = this.files.get(id);
    if (!f) throw fileNotFound(id);
    return f;
  }

  /** Deletes a File and detaches it from every store. @throws ApiError 404 */
  deleteFile(id: string): void {
    this.#removeFile(this.getFile(id));
    this.#counters.files.deleted++;
  }

  #removeFile(file: StoredFile): void {
    this.files.delete(file.id);
    this.#expiringFiles.delete(file);
    for (const store of this.stores.values()) {
      const vf = store.files.get(file.id);
      if (vf) this.#detach(store, vf);
    }
  }

  // --- Vector stores ---------------------------------------------------------

  /** Creates a store (attachments, if any, via {@link attach} afterwards). */
  createStore(init: {
    name: string;
    description: string | null;
    metadata: Record<string, string>;
    expiresAfterDays: number | null;
  }): VectorStore {
    const nowMs = this.#host.clock.nowMs();
    const store: VectorStore = {
      id: newVectorStoreId(),
      ...init,
      createdAt: Math.floor(nowMs / 1000),
      lastActiveAtMs: nowMs,
      expired: false,
      files: new Map(),
      fileSeq: new Sequencer(),
      inProgress: new Set(),
      batches: new Map(),
      writes: new RollingWindow(),
    };
    this.stores.set(store.id, store);
    this.storeSeq.assign(store.id);
    this.#counters.vectorStores.created++;
    return store;
  }

  /** @throws ApiError 404 */
  getStore(id: string): VectorStore {
    const s = this.stores.get(id);
    if (!s) throw vectorStoreNotFound(id);
    return s;
  }

  /** A store that can be written to or searched. @throws ApiError 404, 400 when expired */
  getLiveStore(id: string): VectorStore {
    const s = this.getStore(id);
    if (s.expired) throw vectorStoreExpired(id);
    return s;
  }

  /** Deletes a store and its attachments (the Files remain). @throws ApiError 404 */
  deleteStore(id: string): void {
    const store = this.getStore(id);
    this.#dropAttachments(store);
    this.stores.delete(id);
    this.#counters.vectorStores.deleted++;
  }

  /** Marks the store active now (pushes its expiry back). */
  touch(store: VectorStore): void {
    store.lastActiveAtMs = this.#host.clock.nowMs();
  }

  #expireStore(store: VectorStore): void {
    this.#dropAttachments(store);
    store.expired = true;
    this.#counters.vectorStores.expired++;
  }

  #dropAttachments(store: VectorStore): void {
    for (const vf of [...store.files.values()]) this.#detach(store, vf);
  }

  /**
   * Admits one write request to the store (setting `vectorStoreWriteLimit`
   * per `vectorStoreWriteWindowMs`, on the emulator clock).
   * @throws ApiError 429 `rate_limit_exceeded` with `Retry-After`
   */
  admitWrite(store: VectorStore): void {
    const {
      vectorStoreWriteLimit: limit,
      vectorStoreWriteWindowMs: windowMs,
      organization,
      sendRetryAfterMs,
    } = this.#host.settings;
    const decision = store.writes.tryAdmit(this.#host.clock.nowMs(), 0, {
      rpm: limit,
      tpm: Number.MAX_SAFE_INTEGER,
      windowMs,
    });
    if (decision.ok) return;
    this.#counters.rateLimited.vectorStoreWrites++;
    const wait = decision.retryAfterMs ?? windowMs;
    const headers: Record<string, string> = { 'retry-after': String(Math.max(1, Math.ceil(wait / 1000))) };
    if (sendRetryAfterMs) headers['retry-after-ms'] = String(Math.max(0, Math.ceil(wait)));
    throw vectorStoreWriteRateLimited(
      { vectorStoreId: store.id, organization, limit, used: decision.used, retryAfterText: formatGoDuration(wait) },
      headers,
    );
  }

  // --- Attachments -----------------------------------------------------------

  /**
   * Checks that every File exists before anything is attached.
   * @throws ApiError 404 naming the first unknown File
   */
  requireFiles(fileIds: readonly string[]): void {
    for (const id of fileIds) if (!this.files.has(id)) throw fileNotFound(id);
  }

  /**
   * Attaches Files to a store: each starts `in_progress` and finishes after
   * `fileProcessingDelayMs`. Attaching a File that is already attached
   * replaces that attachment (it is processed again; an unfinished old one
   * counts as cancelled for its batch). Duplicate ids in one call are
   * attached once.
   * @returns the new attachments, in order
   */
  attach(store: VectorStore, specs: readonly AttachSpec[], batchId: string | null): VsFile[] {
    const nowMs = this.#host.clock.nowMs();
    const seen = new Set<string>();
    const out: VsFile[] = [];
    for (const spec of specs) {
      if (seen.has(spec.fileId)) continue;
      seen.add(spec.fileId);
      const file = this.getFile(spec.fileId);
      const old = store.files.get(spec.fileId);
      if (old) this.#detach(store, old);
      const vf: VsFile = {
        fileId: file.id,
        vectorStoreId: store.id,
        filename: file.filename,
        createdAt: Math.floor(nowMs / 1000),
        status: 'in_progress',
        lastError: null,
        usageBytes: 0,
        attributes: spec.attributes,
        chunking: spec.chunking,
        readyAtMs: nowMs + this.#host.settings.fileProcessingDelayMs,
        batchId,
      };
      store.files.set(file.id, vf);
      store.fileSeq.assign(file.id);
      store.inProgress.add(vf);
      this.#counters.vectorStoreFiles.attached++;
      out.push(vf);
    }
    if (this.#host.settings.fileProcessingDelayMs === 0) {
      for (const vf of out) if (!this.#held(vf)) this.#process(store, vf);
    }
    return out;
  }

  /** Creates a batch of attachments. */
  createBatch(store: VectorStore, specs: readonly AttachSpec[]): FileBatch {
    const batch: FileBatch = {
      id: newFileBatchId(),
      vectorStoreId: store.id,
      createdAt: this.#host.clock.nowSeconds(),
      cancelled: false,
      files: [],
    };
    store.batches.set(batch.id, batch);
    batch.files = this.attach(store, specs, batch.id);
    this.#counters.fileBatches.created++;
    return batch;
  }

  /**
   * Cancels a batch: its unfinished attachments become `cancelled` (they
   * stay attached, as the service leaves them).
   * @returns whether anything was still in progress (else the batch was already finished)
   */
  cancelBatch(store: VectorStore, batch: FileBatch): boolean {
    const pending = batch.files.filter((vf) => vf.status === 'in_progress');
    if (pending.length === 0) return false;
    for (const vf of pending) this.#cancel(store, vf);
    batch.cancelled = true;
    this.#counters.fileBatches.cancelled++;
    return true;
  }

  /** Detaches one File from a store (the File remains). */
  detach(store: VectorStore, vf: VsFile): void {
    this.#detach(store, vf);
  }

  #detach(store: VectorStore, vf: VsFile): void {
    if (vf.status === 'in_progress') {
      this.#cancel(store, vf);
      const batch = vf.batchId === null ? undefined : store.batches.get(vf.batchId);
      if (batch) batch.cancelled = true;
    }
    store.files.delete(vf.fileId);
    this.#counters.vectorStoreFiles.detached++;
  }

  #cancel(store: VectorStore, vf: VsFile): void {
    vf.status = 'cancelled';
    store.inProgress.delete(vf);
    this.#counters.vectorStoreFiles.cancelled++;
  }

  /** Finishes processing: parse, check limits, chunk. */
  #process(store: VectorStore, vf: VsFile): void {
    store.inProgress.delete(vf);
    const file = this.files.get(vf.fileId);
    if (!file) {
      this.#fail(vf, 'server_error', 'The file was deleted while it was being processed.');
      return;
    }
    const content = this.#contentOf(file, vf.chunking);
    if (!content.ok) {
      this.#fail(vf, content.code, content.message);
      return;
    }
    vf.text = content.text;
    vf.chunks = content.chunks;
    vf.usageBytes = content.usageBytes;
    vf.status = 'completed';
    this.#counters.vectorStoreFiles.completed++;
  }

  /** What `file` gives for `chunking`, processed once per File and strategy. */
  #contentOf(file: StoredFile, chunking: ChunkingStrategy): ProcessedContent {
    const key = JSON.stringify(chunking);
    file.processed ??= new Map();
    let content = file.processed.get(key);
    if (!content) {
      content = this.#processContent(file, chunking);
      file.processed.set(key, content);
    }
    return content;
  }

  /** Parses, checks the token limit and chunks a File's bytes. */
  #processContent(file: StoredFile, chunking: ChunkingStrategy): ProcessedContent {
    const parsed = extractText(file.filename, file.bytes);
    if (!parsed.ok) return { ok: false, code: parsed.code, message: parsed.message };
    const tokens = encodeText(parsed.text);
    const max = this.#host.settings.maxFileTokens;
    if (tokens.length > max) {
      return {
        ok: false,
        code: 'invalid_file',
        message: `The file has ${tokens.length} tokens, more than the maximum of ${max} per file.`,
      };
    }
    const chunks = chunkTokens(parsed.text, tokens, chunking).map((text) => ({ text }));
    return { ok: true, text: parsed.text, chunks, usageBytes: Buffer.byteLength(parsed.text, 'utf8') };
  }

  #fail(vf: VsFile, code: VsFileError['code'], message: string): void {
    vf.status = 'failed';
    vf.lastError = { code, message };
    this.#counters.vectorStoreFiles.failed++;
  }

  /** The chunks of a completed attachment with their vectors (embedded on first use). */
  chunksOf(vf: VsFile): Required<Chunk>[] {
    this.hydrate(vf);
    const chunks = vf.chunks ?? [];
    for (const c of chunks) c.vector ??= embedText(c.text, SEARCH_DIMENSIONS);
    return chunks as Required<Chunk>[];
  }

  /** Current totals for stats. */
  totals(): { files: number; fileBytes: number; vectorStores: number; vectorStoreFiles: number } {
    let fileBytes = 0;
    for (const f of this.files.values()) fileBytes += f.bytes.length;
    let vectorStoreFiles = 0;
    for (const s of this.stores.values()) vectorStoreFiles += s.files.size;
    return { files: this.files.size, fileBytes, vectorStores: this.stores.size, vectorStoreFiles };
  }
}

// --- JSON forms --------------------------------------------------------------

/** Spec `OpenAIFile`. */
export interface FileJson {
  id: string;
  object: 'file';
  bytes: number;
  created_at: number;
  expires_at?: number;
  filename: string;
  purpose: string;
  status: 'processed';
}

/** Spec `VectorStoreObject`, plus `description` as the service sends it. */
export interface VectorStoreJson {
  id: string;
  object: 'vector_store';
  created_at: number;
  name: string;
  description: string | null;
  usage_bytes: number;
  file_counts: FileCounts;
  status: 'expired' | 'in_progress' | 'completed';
  expires_after?: { anchor: 'last_active_at'; days: number };
  expires_at: number | null;
  last_active_at: number;
  metadata: Record<string, string>;
}

/** Spec `VectorStoreFileObject`. */
export interface VectorStoreFileJson {
  id: string;
  object: 'vector_store.file';
  usage_bytes: number;
  created_at: number;
  vector_store_id: string;
  status: VsFileStatus;
  last_error: VsFileError | null;
  chunking_strategy: ReturnType<typeof chunkingStrategyJson>;
  attributes: Attributes;
}

/** Spec `VectorStoreFileBatchObject`. */
export interface FileBatchJson {
  id: string;
  object: 'vector_store.files_batch';
  created_at: number;
  vector_store_id: string;
  status: 'in_progress' | 'completed' | 'cancelled';
  file_counts: FileCounts;
}

/** Spec `OpenAIFile` (`expires_at` only when the File expires; `status` is always `processed`). */
export function fileJson(f: StoredFile): FileJson {
  return {
    id: f.id,
    object: 'file',
    bytes: f.bytes.length,
    created_at: f.createdAt,
    ...(f.expiresAtMs === null ? {} : { expires_at: Math.floor(f.expiresAtMs / 1000) }),
    filename: f.filename,
    purpose: f.purpose,
    status: 'processed',
  };
}

/** `file_counts` over attachments. */
export function countFiles(files: Iterable<VsFile>): FileCounts {
  const c: FileCounts = { in_progress: 0, completed: 0, failed: 0, cancelled: 0, total: 0 };
  for (const vf of files) {
    c[vf.status]++;
    c.total++;
  }
  return c;
}

/** Spec `VectorStoreObject` (plus `description`, as the service sends). */
export function storeJson(s: VectorStore): VectorStoreJson {
  const counts = countFiles(s.files.values());
  let usage = 0;
  for (const vf of s.files.values()) usage += vf.usageBytes;
  const lastActive = Math.floor(s.lastActiveAtMs / 1000);
  return {
    id: s.id,
    object: 'vector_store',
    created_at: s.createdAt,
    name: s.name,
    description: s.description,
    usage_bytes: usage,
    file_counts: counts,
    status: s.expired ? 'expired' : counts.in_progress > 0 ? 'in_progress' : 'completed',
    ...(s.expiresAfterDays === null ? {} : { expires_after: { anchor: 'last_active_at', days: s.expiresAfterDays } }),
    expires_at: s.expiresAfterDays === null ? null : lastActive + s.expiresAfterDays * 86_400,
    last_active_at: lastActive,
    metadata: s.metadata,
  };
}

/** Spec `VectorStoreFileObject` (`chunking_strategy` as static; auto is 800/400). */
export function vsFileJson(vf: VsFile): VectorStoreFileJson {
  return {
    id: vf.fileId,
    object: 'vector_store.file',
    usage_bytes: vf.usageBytes,
    created_at: vf.createdAt,
    vector_store_id: vf.vectorStoreId,
    status: vf.status,
    last_error: vf.lastError,
    chunking_strategy: chunkingStrategyJson(vf.chunking),
    attributes: vf.attributes,
  };
}

/** Batch status: cancelled once cancelled, else in progress until every file is terminal, then completed (even with failures). */
export function batchStatus(b: FileBatch): 'in_progress' | 'completed' | 'cancelled' {
  if (b.cancelled) return 'cancelled';
  return b.files.some((vf) => vf.status === 'in_progress') ? 'in_progress' : 'completed';
}

/** Spec `VectorStoreFileBatchObject` (`object` is `vector_store.files_batch`). */
export function batchJson(b: FileBatch): FileBatchJson {
  return {
    id: b.id,
    object: 'vector_store.files_batch',
    created_at: b.createdAt,
    vector_store_id: b.vectorStoreId,
    status: batchStatus(b),
    file_counts: countFiles(b.files),
  };
}
