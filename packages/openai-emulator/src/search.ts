/**
 * `POST /v1/vector_stores/{vector_store_id}/search`
 * (docs/openai-facts.md, "Vector stores"; spec `VectorStoreSearchRequest` → `VectorStoreSearchResultsPage`).
 *
 * Every completed attachment's text is chunked by its chunking strategy
 * (cl100k_base tokens) when it completes; each chunk is embedded once with
 * the emulator's deterministic `embedText` vectors, and scored by cosine
 * similarity with each query (the best over several queries), clamped to
 * 0..1. Results are chunks, best first (ties: attach order, then chunk
 * order), at most `max_num_results` (1..50, default 10), without those under
 * `ranking_options.score_threshold`, and only from files whose attributes
 * pass `filters`:
 *
 * - comparison `{type: eq|ne|gt|gte|lt|lte|in|nin, key, value}`: eq/ne
 *   compare exactly (no type coercion); gt/gte/lt/lte compare two numbers, or
 *   two strings (lexicographically), else fail; in/nin take an array value.
 *   A missing attribute fails every comparison except `ne` and `nin`.
 * - compound `{type: and|or, filters:[…]}`, nested freely.
 *
 * `search_query` echoes the queries as an array (the schema's type; some of
 * the spec's examples show a string). `rewrite_query` is accepted; the
 * emulator does not rewrite. `has_more` is false and `next_page` null.
 * A search touches `last_active_at`; an expired store is refused (400).
 */
import { emptyArray, invalidType, invalidValue, missingParameter, stringTooShort } from './errors.ts';
import type { HandlerResult, RequestContext, Route } from './http-types.ts';
import { SEARCH_DIMENSIONS, type VsFile } from './storage.ts';
import {
  bodyObject,
  enumValue,
  integerInRange,
  numberInRange,
  rejectUnknownKeys,
  type Attributes,
  type JsonObject,
} from './validate.ts';
import { embedText } from './vectors.ts';

/** Comparison operators. */
export type ComparisonOp = 'eq' | 'ne' | 'gt' | 'gte' | 'lt' | 'lte' | 'in' | 'nin';

/** A parsed filter (spec `ComparisonFilter` / `CompoundFilter`). */
export type Filter =
  | { type: ComparisonOp; key: string; value: string | number | boolean | Array<string | number> }
  | { type: 'and' | 'or'; filters: Filter[] };

const COMPARISONS: readonly ComparisonOp[] = ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'nin'];
const RANKERS = ['none', 'auto', 'default-2024-11-15', 'default_2024_08_21'] as const;

/** One result item (spec `VectorStoreSearchResultItem`). */
export interface SearchResultItem {
  file_id: string;
  filename: string;
  score: number;
  attributes: Attributes;
  content: Array<{ type: 'text'; text: string }>;
}

/**
 * Parses and validates a filter.
 * @throws ApiError 400
 */
export function parseFilter(value: unknown, path = 'filters'): Filter {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidType(path, 'an object', value);
  const o = value as JsonObject;
  if (o['type'] === undefined) throw missingParameter(`${path}.type`);
  const type = enumValue(o['type'], `${path}.type`, [...COMPARISONS, 'and', 'or'] as const);
  if (type === 'and' || type === 'or') {
    rejectUnknownKeys(o, ['type', 'filters'], path);
    const filters = o['filters'];
    if (filters === undefined) throw missingParameter(`${path}.filters`);
    if (!Array.isArray(filters)) throw invalidType(`${path}.filters`, 'an array', filters);
    return { type, filters: filters.map((f: unknown, i) => parseFilter(f, `${path}.filters[${i}]`)) };
  }
  rejectUnknownKeys(o, ['type', 'key', 'value'], path);
  if (o['key'] === undefined) throw missingParameter(`${path}.key`);
  if (typeof o['key'] !== 'string') throw invalidType(`${path}.key`, 'a string', o['key']);
  const v = o['value'];
  if (v === undefined) throw missingParameter(`${path}.value`);
  if (type === 'in' || type === 'nin') {
    if (!Array.isArray(v)) throw invalidType(`${path}.value`, 'an array', v);
    v.forEach((item: unknown, i) => {
      if (typeof item !== 'string' && typeof item !== 'number') {
        throw invalidType(`${path}.value[${i}]`, 'a string or number', item);
      }
    });
    return { type, key: o['key'], value: v as Array<string | number> };
  }
  if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
    throw invalidType(`${path}.value`, 'a string, number, or boolean', v);
  }
  return { type, key: o['key'], value: v };
}

/** Whether `attributes` pass `filter`; see the module comment for the rules. */
export function matchesFilter(filter: Filter, attributes: Attributes): boolean {
  if ('filters' in filter) {
    return filter.type === 'and'
      ? filter.filters.every((f) => matchesFilter(f, attributes))
      : filter.filters.some((f) => matchesFilter(f, attributes));
  }
  const actual = Object.hasOwn(attributes, filter.key) ? attributes[filter.key] : undefined;
  const expected = filter.value;
  if (actual === undefined) return filter.type === 'ne' || filter.type === 'nin';
  switch (filter.type) {
    case 'eq':
      return actual === expected;
    case 'ne':
      return actual !== expected;
    case 'in':
      return Array.isArray(expected) && expected.some((e) => e === actual);
    case 'nin':
      return Array.isArray(expected) && !expected.some((e) => e === actual);
    default: {
      const bothNumbers = typeof actual === 'number' && typeof expected === 'number';
      const bothStrings = typeof actual === 'string' && typeof expected === 'string';
      if (!bothNumbers && !bothStrings) return false;
      const a = actual as number | string;
      const e = expected as number | string;
      if (filter.type === 'gt') return a > e;
      if (filter.type === 'gte') return a >= e;
      if (filter.type === 'lt') return a < e;
      return a <= e;
    }
  }
}

function parseQuery(value: unknown): string[] {
  if (value === undefined || value === null) throw missingParameter('query');
  if (typeof value === 'string') {
    if (value.trim() === '') throw stringTooShort('query', 1, value.length);
    return [value];
  }
  if (!Array.isArray(value)) throw invalidType('query', 'a string or an array of strings', value);
  if (value.length === 0) throw emptyArray('query');
  return value.map((q: unknown, i) => {
    if (typeof q !== 'string') throw invalidType(`query[${i}]`, 'a string', q);
    if (q.trim() === '') throw stringTooShort(`query[${i}]`, 1, q.length);
    return q;
  });
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += (a[i] as number) * (b[i] as number);
  return dot; // both are unit vectors
}

function search(ctx: RequestContext): HandlerResult {
  const { state } = ctx;
  const b = bodyObject(ctx.json(), ['query', 'rewrite_query', 'max_num_results', 'filters', 'ranking_options']);
  const queries = parseQuery(b['query']);
  if (b['rewrite_query'] !== undefined && typeof b['rewrite_query'] !== 'boolean') {
    throw invalidType('rewrite_query', 'a boolean', b['rewrite_query']);
  }
  const max = b['max_num_results'] === undefined ? 10 : integerInRange(b['max_num_results'], 'max_num_results', 1, 50);
  const filter = b['filters'] === undefined || b['filters'] === null ? undefined : parseFilter(b['filters']);
  let threshold = 0;
  const ranking = b['ranking_options'];
  if (ranking !== undefined && ranking !== null) {
    if (typeof ranking !== 'object' || Array.isArray(ranking))
      throw invalidType('ranking_options', 'an object', ranking);
    const r = ranking as JsonObject;
    rejectUnknownKeys(r, ['ranker', 'score_threshold'], 'ranking_options');
    if (r['ranker'] !== undefined) {
      if (typeof r['ranker'] !== 'string' || !(RANKERS as readonly string[]).includes(r['ranker'])) {
        throw invalidValue('ranking_options.ranker', r['ranker'], RANKERS);
      }
    }
    if (r['score_threshold'] !== undefined)
      threshold = numberInRange(r['score_threshold'], 'ranking_options.score_threshold', 0, 1);
  }

  const { storage } = state;
  storage.settle();
  const store = storage.getLiveStore(ctx.params['vector_store_id'] ?? '');
  storage.touch(store);
  const queryVectors = queries.map((q) => embedText(q, SEARCH_DIMENSIONS));

  const hits: Array<{ vf: VsFile; text: string; score: number; order: number }> = [];
  let order = 0;
  for (const vf of store.files.values()) {
    if (vf.status !== 'completed') continue;
    if (filter && !matchesFilter(filter, vf.attributes)) continue;
    for (const chunk of storage.chunksOf(vf)) {
      let best = 0;
      for (const qv of queryVectors) best = Math.max(best, cosine(qv, chunk.vector));
      const score = Math.min(1, Math.max(0, best));
      if (score >= threshold) hits.push({ vf, text: chunk.text, score, order: order++ });
    }
  }
  hits.sort((x, y) => y.score - x.score || x.order - y.order);
  const data: SearchResultItem[] = hits.slice(0, max).map((h) => ({
    file_id: h.vf.fileId,
    filename: h.vf.filename,
    score: h.score,
    attributes: h.vf.attributes,
    content: [{ type: 'text', text: h.text }],
  }));
  state.counters.vectorStores.searches++;
  return {
    body: { object: 'vector_store.search_results.page', search_query: queries, data, has_more: false, next_page: null },
  };
}

/** The search route. */
export function searchRoutes(): Route[] {
  return [{ method: 'POST', path: '/v1/vector_stores/{vector_store_id}/search', api: true, handler: search }];
}
