/**
 * Files in a vector store and file batches (docs/openai-facts.md, "Vector stores"; spec
 * operations createVectorStoreFile, listVectorStoreFiles,
 * getVectorStoreFile, updateVectorStoreFileAttributes,
 * deleteVectorStoreFile, retrieveVectorStoreFileContent,
 * createVectorStoreFileBatch, getVectorStoreFileBatch,
 * cancelVectorStoreFileBatch, listFilesInVectorStoreBatch).
 *
 * - Attach `{file_id, attributes?, chunking_strategy?}`: the attachment is
 *   `in_progress` for `fileProcessingDelayMs`, then `completed`, or `failed`
 *   with `last_error` (`unsupported_file` for an extension outside docs/openai-facts.md's
 *   list, `invalid_file` for text that is not UTF-8/UTF-16/ASCII, or empty).
 * - Batches take `file_ids` (1..2000, shared `attributes` /
 *   `chunking_strategy`) **or** `files` (1..2000 `{file_id, attributes?,
 *   chunking_strategy?}`; the top-level ones are then ignored), never both.
 *   A batch is `in_progress` until all its files are terminal, then
 *   `completed` even if some failed (check `file_counts.failed`); cancel
 *   turns its unfinished files `cancelled` and the batch `cancelled`
 *   (cancelling a finished batch is a 400).
 * - Writes (attach, attribute update, detach, batch create) count against
 *   the store's write limit (`vectorStoreWriteLimit` per
 *   `vectorStoreWriteWindowMs`, 429 beyond) and touch `last_active_at`.
 * - Detach removes the attachment only; the File remains.
 * - Content: `{object:"vector_store.file_content.page", data:[{type:"text",
 *   text}], has_more:false, next_page:null}`; the parsed text once completed,
 *   no data before that or after a failure.
 */
import {
  arrayTooLong,
  emptyArray,
  fileBatchNotFound,
  invalidRequest,
  invalidType,
  missingParameter,
  vectorStoreFileNotFound,
} from './errors.ts';
import type { HandlerResult, RequestContext, Route } from './http-types.ts';
import type { EmulatorSettings } from './options.ts';
import { listPage, paginate, parseListQuery } from './pagination.ts';
import {
  batchJson,
  vsFileJson,
  type AttachSpec,
  type FileBatch,
  type VectorStore,
  type VsFile,
  type VsFileStatus,
} from './storage.ts';
import {
  AUTO_CHUNKING,
  bodyObject,
  enumValue,
  parseAttributes,
  parseChunkingStrategy,
  rejectUnknownKeys,
  requiredString,
  stringArray,
  type AttributeLimits,
  type ChunkingStrategy,
  type JsonObject,
} from './validate.ts';

const STATUSES: readonly VsFileStatus[] = ['in_progress', 'completed', 'failed', 'cancelled'];

function attributeLimits(s: Readonly<EmulatorSettings>): AttributeLimits {
  return { maxKeys: s.attributeMaxKeys, maxLength: s.attributeMaxLength };
}

function storeId(ctx: RequestContext): string {
  return ctx.params['vector_store_id'] ?? '';
}

/**
 * The store for a write: it exists (404), is not expired (400), `check`
 * passes (e.g. the File exists), and the write fits the store's write limit
 * (429); then it is touched.
 */
function storeForWrite(ctx: RequestContext, check: (store: VectorStore) => void = () => {}): VectorStore {
  const { storage } = ctx.state;
  storage.settle();
  const store = storage.getLiveStore(storeId(ctx));
  check(store);
  storage.admitWrite(store);
  storage.touch(store);
  return store;
}

function attachment(store: VectorStore, fileId: string): VsFile {
  const vf = store.files.get(fileId);
  if (!vf) throw vectorStoreFileNotFound(store.id, fileId);
  return vf;
}

/** `{file_id, attributes?, chunking_strategy?}` (spec `CreateVectorStoreFileRequest`), at `path` in the body. */
function parseAttachSpec(o: JsonObject, path: string, settings: Readonly<EmulatorSettings>): AttachSpec {
  rejectUnknownKeys(o, ['file_id', 'attributes', 'chunking_strategy'], path);
  const prefix = path ? `${path}.` : '';
  const fileId = requiredString(o, 'file_id', `${prefix}file_id`);
  const attributes = parseAttributes(o['attributes'], `${prefix}attributes`, attributeLimits(settings));
  const chunking: ChunkingStrategy = parseChunkingStrategy(o['chunking_strategy'], `${prefix}chunking_strategy`) ?? {
    ...AUTO_CHUNKING,
  };
  return { fileId, attributes, chunking };
}

// --- files -------------------------------------------------------------------

function createVectorStoreFile(ctx: RequestContext): HandlerResult {
  const { state } = ctx;
  const body = bodyObject(ctx.json(), ['file_id', 'attributes', 'chunking_strategy']);
  const spec = parseAttachSpec(body, '', state.settings);
  const store = storeForWrite(ctx, () => state.storage.requireFiles([spec.fileId]));
  const [vf] = state.storage.attach(store, [spec], null);
  return { body: vsFileJson(vf as VsFile) };
}

/** Reads `filter` (a status) from the query. */
function statusFilter(ctx: RequestContext): VsFileStatus | undefined {
  const raw = ctx.query.get('filter');
  if (raw === null || raw === '') return undefined;
  return enumValue(raw, 'filter', STATUSES);
}

function listVectorStoreFiles(ctx: RequestContext): HandlerResult {
  const { storage } = ctx.state;
  storage.settle();
  const store = storage.getStore(storeId(ctx));
  return listFilesPage(ctx, store, [...store.files.values()]);
}

/** One page of vector store files, filtered by `?filter=<status>`, in the store's file order. */
function listFilesPage(ctx: RequestContext, store: VectorStore, files: VsFile[]): HandlerResult {
  const q = parseListQuery(ctx.query, 100, 20);
  const filter = statusFilter(ctx);
  const items = files.filter((vf) => !filter || vf.status === filter).map((vf) => ({ id: vf.fileId, vf }));
  const { data, hasMore } = paginate(items, q, (id) => store.fileSeq.of(id));
  return {
    body: listPage(
      data.map((d) => vsFileJson(d.vf)),
      hasMore,
    ),
  };
}

function getVectorStoreFile(ctx: RequestContext): HandlerResult {
  const { storage } = ctx.state;
  storage.settle();
  const store = storage.getStore(storeId(ctx));
  return { body: vsFileJson(attachment(store, ctx.params['file_id'] ?? '')) };
}

function updateVectorStoreFileAttributes(ctx: RequestContext): HandlerResult {
  const { state } = ctx;
  const body = bodyObject(ctx.json(), ['attributes']);
  if (!('attributes' in body)) throw missingParameter('attributes');
  const attributes = parseAttributes(body['attributes'], 'attributes', attributeLimits(state.settings));
  const fileId = ctx.params['file_id'] ?? '';
  const store = storeForWrite(ctx, (s) => attachment(s, fileId));
  const vf = attachment(store, fileId);
  vf.attributes = attributes;
  return { body: vsFileJson(vf) };
}

function deleteVectorStoreFile(ctx: RequestContext): HandlerResult {
  const { storage } = ctx.state;
  const fileId = ctx.params['file_id'] ?? '';
  // An expired store has no attachments left: 404 rather than "expired".
  storage.settle();
  attachment(storage.getStore(storeId(ctx)), fileId);
  const store = storeForWrite(ctx);
  storage.detach(store, attachment(store, fileId));
  return { body: { id: fileId, object: 'vector_store.file.deleted', deleted: true } };
}

function vectorStoreFileContent(ctx: RequestContext): HandlerResult {
  const { storage } = ctx.state;
  storage.settle();
  const vf = attachment(storage.getStore(storeId(ctx)), ctx.params['file_id'] ?? '');
  storage.hydrate(vf);
  const data = vf.status === 'completed' && vf.text !== undefined ? [{ type: 'text', text: vf.text }] : [];
  return { body: { object: 'vector_store.file_content.page', data, has_more: false, next_page: null } };
}

// --- batches -----------------------------------------------------------------

function createFileBatch(ctx: RequestContext): HandlerResult {
  const { state } = ctx;
  const { settings } = state;
  const body = bodyObject(ctx.json(), ['file_ids', 'files', 'attributes', 'chunking_strategy']);
  const hasIds = body['file_ids'] !== undefined && body['file_ids'] !== null;
  const hasFiles = body['files'] !== undefined && body['files'] !== null;
  if (hasIds && hasFiles) {
    throw invalidRequest("Only one of 'file_ids' or 'files' may be provided, not both.", 'files');
  }
  if (!hasIds && !hasFiles) throw missingParameter('file_ids');
  const max = settings.maxFileBatchSize;
  let specs: AttachSpec[];
  if (hasIds) {
    const ids = stringArray(body['file_ids'], 'file_ids', 1, max);
    const attributes = parseAttributes(body['attributes'], 'attributes', attributeLimits(settings));
    const chunking = parseChunkingStrategy(body['chunking_strategy']) ?? { ...AUTO_CHUNKING };
    specs = ids.map((fileId) => ({ fileId, attributes: { ...attributes }, chunking }));
  } else {
    const files = body['files'];
    if (!Array.isArray(files)) throw invalidType('files', 'an array', files);
    if (files.length === 0) throw emptyArray('files');
    if (files.length > max) throw arrayTooLong('files', max, files.length);
    specs = files.map((f: unknown, i) => {
      if (typeof f !== 'object' || f === null || Array.isArray(f)) throw invalidType(`files[${i}]`, 'an object', f);
      return parseAttachSpec(f as JsonObject, `files[${i}]`, settings);
    });
  }
  const store = storeForWrite(ctx, () => state.storage.requireFiles(specs.map((s) => s.fileId)));
  return { body: batchJson(state.storage.createBatch(store, specs)) };
}

function batchOf(store: VectorStore, batchId: string): FileBatch {
  const b = store.batches.get(batchId);
  if (!b) throw fileBatchNotFound(store.id, batchId);
  return b;
}

function getFileBatch(ctx: RequestContext): HandlerResult {
  const { storage } = ctx.state;
  storage.settle();
  return { body: batchJson(batchOf(storage.getStore(storeId(ctx)), ctx.params['batch_id'] ?? '')) };
}

function cancelFileBatch(ctx: RequestContext): HandlerResult {
  const { storage } = ctx.state;
  storage.settle();
  const store = storage.getStore(storeId(ctx));
  const batch = batchOf(store, ctx.params['batch_id'] ?? '');
  if (!batch.cancelled && !storage.cancelBatch(store, batch)) {
    throw invalidRequest(`Cannot cancel file batch ${batch.id}: it has already finished with status 'completed'.`);
  }
  return { body: batchJson(batch) };
}

function listFilesInBatch(ctx: RequestContext): HandlerResult {
  const { storage } = ctx.state;
  storage.settle();
  const store = storage.getStore(storeId(ctx));
  const batch = batchOf(store, ctx.params['batch_id'] ?? '');
  // Only the batch's files still attached as this batch's (not replaced by a later attach).
  return listFilesPage(
    ctx,
    store,
    batch.files.filter((vf) => store.files.get(vf.fileId) === vf),
  );
}

/** `openai-poll-after-ms` when the `pollAfterMs` setting is on. */
function pollHeaders(ctx: RequestContext): Record<string, string> {
  const ms = ctx.state.settings.pollAfterMs;
  return ms === null ? {} : { 'openai-poll-after-ms': String(ms) };
}

/** The vector store file and file batch routes. */
export function vectorStoreFileRoutes(): Route[] {
  const base = '/v1/vector_stores/{vector_store_id}';
  const r = (method: Route['method'], path: string, handler: Route['handler']): Route => ({
    method,
    path: `${base}${path}`,
    api: true,
    handler,
    headers: pollHeaders,
  });
  return [
    r('POST', '/files', createVectorStoreFile),
    r('GET', '/files', listVectorStoreFiles),
    r('GET', '/files/{file_id}', getVectorStoreFile),
    r('POST', '/files/{file_id}', updateVectorStoreFileAttributes),
    r('DELETE', '/files/{file_id}', deleteVectorStoreFile),
    r('GET', '/files/{file_id}/content', vectorStoreFileContent),
    r('POST', '/file_batches', createFileBatch),
    r('GET', '/file_batches/{batch_id}', getFileBatch),
    r('POST', '/file_batches/{batch_id}/cancel', cancelFileBatch),
    r('GET', '/file_batches/{batch_id}/files', listFilesInBatch),
  ];
}
