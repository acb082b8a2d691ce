/**
 * Vector stores — `/v1/vector_stores` (docs/openai-facts.md, "Vector stores"; spec
 * operations createVectorStore, listVectorStores, getVectorStore,
 * modifyVectorStore, deleteVectorStore).
 *
 * - Create: `name`, `description`, `file_ids` (≤ `maxVectorStoreFileIds`,
 *   500; every File must exist, else 404), `metadata` (≤ 16 pairs),
 *   `expires_after {anchor:"last_active_at", days 1..365}`,
 *   `chunking_strategy` (auto = 800/400, or static) for those files.
 * - List: `limit` 1..100 (20), `order` (desc), `after`, `before`.
 * - Modify: `name`, `metadata`, `expires_after` (null removes the policy).
 * - Delete: `{id, object:"vector_store.deleted", deleted:true}`; the
 *   attachments go, the Files remain.
 *
 * Expired stores (see `storage.ts`) are still retrieved, listed and
 * deletable (`status: "expired"`, no attachments); modifying, attaching,
 * batching and searching them is refused with 400, as the service does.
 */
import { invalidType, missingParameter } from './errors.ts';
import type { HandlerResult, RequestContext, Route } from './http-types.ts';
import { listPage, paginate, parseListQuery } from './pagination.ts';
import { storeJson } from './storage.ts';
import {
  AUTO_CHUNKING,
  bodyObject,
  enumValue,
  integerInRange,
  optionalString,
  parseChunkingStrategy,
  parseMetadata,
  rejectUnknownKeys,
  stringArray,
  type JsonObject,
} from './validate.ts';

/**
 * `expires_after`: `{anchor:"last_active_at", days:1..365}`.
 * @returns days, or null for null/absent
 */
export function parseStoreExpiresAfter(value: unknown): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) throw invalidType('expires_after', 'an object', value);
  const o = value as JsonObject;
  rejectUnknownKeys(o, ['anchor', 'days'], 'expires_after');
  if (o['anchor'] === undefined) throw missingParameter('expires_after.anchor');
  enumValue(o['anchor'], 'expires_after.anchor', ['last_active_at'] as const);
  if (o['days'] === undefined) throw missingParameter('expires_after.days');
  return integerInRange(o['days'], 'expires_after.days', 1, 365);
}

function createVectorStore(ctx: RequestContext): HandlerResult {
  const { state } = ctx;
  const b = bodyObject(ctx.json(), [
    'name',
    'description',
    'file_ids',
    'expires_after',
    'chunking_strategy',
    'metadata',
  ]);
  const name = optionalString(b, 'name') ?? '';
  const description = optionalString(b, 'description') ?? null;
  const rawIds = b['file_ids'];
  const fileIds =
    rawIds === undefined || rawIds === null
      ? []
      : stringArray(rawIds, 'file_ids', 0, state.settings.maxVectorStoreFileIds);
  const expiresAfterDays = parseStoreExpiresAfter(b['expires_after']);
  const chunking = parseChunkingStrategy(b['chunking_strategy']) ?? { ...AUTO_CHUNKING };
  const metadata = parseMetadata(b['metadata']);
  state.storage.settle();
  state.storage.requireFiles(fileIds);
  const store = state.storage.createStore({ name, description, metadata, expiresAfterDays });
  state.storage.attach(
    store,
    fileIds.map((fileId) => ({ fileId, attributes: {}, chunking })),
    null,
  );
  return { body: storeJson(store) };
}

function listVectorStores(ctx: RequestContext): HandlerResult {
  const { storage } = ctx.state;
  storage.settle();
  const q = parseListQuery(ctx.query, 100, 20);
  const { data, hasMore } = paginate([...storage.stores.values()], q, (id) => storage.storeSeq.of(id));
  return { body: listPage(data.map(storeJson), hasMore) };
}

function getVectorStore(ctx: RequestContext): HandlerResult {
  const { storage } = ctx.state;
  storage.settle();
  return { body: storeJson(storage.getStore(ctx.params['vector_store_id'] ?? '')) };
}

function modifyVectorStore(ctx: RequestContext): HandlerResult {
  const { storage } = ctx.state;
  const b = bodyObject(ctx.json(), ['name', 'expires_after', 'metadata']);
  const name = optionalString(b, 'name');
  const expires = 'expires_after' in b ? { days: parseStoreExpiresAfter(b['expires_after']) } : undefined;
  const metadata = 'metadata' in b ? parseMetadata(b['metadata']) : undefined;
  storage.settle();
  const store = storage.getLiveStore(ctx.params['vector_store_id'] ?? '');
  if (name !== undefined) store.name = name;
  if (expires) store.expiresAfterDays = expires.days;
  if (metadata) store.metadata = metadata;
  return { body: storeJson(store) };
}

function deleteVectorStore(ctx: RequestContext): HandlerResult {
  const { storage } = ctx.state;
  storage.settle();
  const id = ctx.params['vector_store_id'] ?? '';
  storage.deleteStore(id);
  return { body: { id, object: 'vector_store.deleted', deleted: true } };
}

/** The vector store routes (files, batches and search are in their own modules). */
export function vectorStoreRoutes(): Route[] {
  return [
    { method: 'POST', path: '/v1/vector_stores', api: true, handler: createVectorStore },
    { method: 'GET', path: '/v1/vector_stores', api: true, handler: listVectorStores },
    { method: 'GET', path: '/v1/vector_stores/{vector_store_id}', api: true, handler: getVectorStore },
    { method: 'POST', path: '/v1/vector_stores/{vector_store_id}', api: true, handler: modifyVectorStore },
    { method: 'DELETE', path: '/v1/vector_stores/{vector_store_id}', api: true, handler: deleteVectorStore },
  ];
}
