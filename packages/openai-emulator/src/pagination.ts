/**
 * Cursor pagination as the service does it for Files and Vector Stores:
 * `limit`, `order` (`asc`/`desc` by `created_at`, default `desc`), `after`
 * / `before` (object ids), and a `{object:"list", data, first_id, last_id,
 * has_more}` page. The SDK's `CursorPage` follows `has_more` and passes the
 * last item's id as `after`.
 *
 * Objects are ordered by creation sequence (a counter, so objects created in
 * the same second keep their order). A cursor may name an object that has
 * since been deleted (a client deleting what it pages through): it still
 * marks its old position. A cursor that never named an object of the list
 * is a client bug and gets 400.
 *
 * An empty page has `first_id` and `last_id` null, as the service sends
 * (the spec's schema types them as strings only).
 */
import { invalidRequest } from './errors.ts';
import { enumValue, integerInRange } from './validate.ts';

/** Sort order by creation. */
export type Order = 'asc' | 'desc';

/** A parsed list query. */
export interface ListQuery {
  limit: number;
  order: Order;
  after?: string;
  before?: string;
}

/** The spec's list envelope (`ListFilesResponse`, `ListVectorStoresResponse`, …). */
export interface ListPage<T> {
  object: 'list';
  data: T[];
  first_id: string | null;
  last_id: string | null;
  has_more: boolean;
}

/** Creation-order numbers for ids, remembered after deletion so old cursors keep their place. */
export class Sequencer {
  #next = 1;
  readonly #seq = new Map<string, number>();

  /** Assigns the next number to `id` and returns it. */
  assign(id: string): number {
    const n = this.#next++;
    this.#seq.set(id, n);
    return n;
  }

  /** The number of `id`, or `undefined` if it was never assigned. */
  of(id: string): number | undefined {
    return this.#seq.get(id);
  }
}

/**
 * Reads `limit`, `order`, `after`, `before` from the query string.
 * @param maxLimit 100 for vector stores, 10,000 for files
 * @param defaultLimit 20 for vector stores, 10,000 for files
 * @throws ApiError 400
 */
export function parseListQuery(query: URLSearchParams, maxLimit: number, defaultLimit: number): ListQuery {
  const rawLimit = query.get('limit');
  let limit = defaultLimit;
  if (rawLimit !== null && rawLimit !== '') {
    const n = Number(rawLimit);
    limit = integerInRange(
      Number.isFinite(n) && /^-?\d+(\.\d+)?$/.test(rawLimit.trim()) ? n : rawLimit,
      'limit',
      1,
      maxLimit,
    );
  }
  const rawOrder = query.get('order');
  const order: Order =
    rawOrder === null || rawOrder === '' ? 'desc' : enumValue(rawOrder, 'order', ['asc', 'desc'] as const);
  const q: ListQuery = { limit, order };
  const after = query.get('after');
  const before = query.get('before');
  if (after) q.after = after;
  if (before) q.before = before;
  return q;
}

/**
 * One page of `items`.
 * @param items all candidates (already filtered), in creation order (ascending)
 * @param seqOf creation number of an item / of a cursor id
 */
export function paginate<T extends { id: string }>(
  items: readonly T[],
  q: ListQuery,
  seq: (id: string) => number | undefined,
): { data: T[]; hasMore: boolean } {
  const ordered = q.order === 'asc' ? [...items] : [...items].reverse();
  const cursor = (name: 'after' | 'before', id: string): number => {
    const n = seq(id);
    if (n === undefined)
      throw invalidRequest(`Invalid '${name}': no object with id '${id}' in this list.`, name, 'invalid_value');
    return n;
  };
  // `x` comes after the cursor `c` in this order?
  const follows = (x: number, c: number) => (q.order === 'asc' ? x > c : x < c);
  let window = ordered;
  if (q.after !== undefined) {
    const c = cursor('after', q.after);
    window = window.filter((it) => follows(seq(it.id) as number, c));
  }
  if (q.before !== undefined) {
    const c = cursor('before', q.before);
    window = window.filter((it) => follows(c, seq(it.id) as number));
    // The page right before the cursor: the `limit` items closest to it.
    const start = Math.max(0, window.length - q.limit);
    return { data: window.slice(start), hasMore: start > 0 };
  }
  return { data: window.slice(0, q.limit), hasMore: window.length > q.limit };
}

/** Wraps a page in the list envelope. */
export function listPage<T extends { id: string }>(data: T[], hasMore: boolean): ListPage<T> {
  return {
    object: 'list',
    data,
    first_id: data[0]?.id ?? null,
    last_id: data[data.length - 1]?.id ?? null,
    has_more: hasMore,
  };
}
