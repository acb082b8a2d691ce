/**
 * pgvector vectors in PostgreSQL's binary wire format.
 *
 * Why: as text, a 1536-d vector is ~31 KB (`pgvector.toSql` prints each
 * float32 widened to a double, 17 significant digits); formatting it costs
 * the worker ~0.15 ms of event loop per vector and PostgreSQL parses 1,536
 * decimals per row. In binary it is 6 KB, written with `writeFloatBE` in a
 * few microseconds, and exact: no decimal round trip.
 *
 * node-postgres sends a `Buffer` parameter in binary format (pg-protocol's
 * serializer), so the server reads it with the type's receive function:
 * `array_recv` for `$n::vector[]`, which calls pgvector's `vector_recv` for
 * each element.
 */
import os from 'node:os';
import type pg from 'pg';

/**
 * pgvector's `vector_send` layout (pgvector src/vector.c): int16 dimensions,
 * int16 unused (0), then each element as a big-endian float4.
 */
const VECTOR_HEADER_BYTES = 4;

/**
 * Encodes `vectors` as one binary `vector[]` value (PostgreSQL's `array_send`
 * layout: ndim, has-nulls flag, element type OID, then per dimension its
 * length and lower bound, then each element as int32 byte length + bytes).
 *
 * @param vectors every vector must have `dimensions` finite elements
 * @param dimensions 1 ≤ dimensions ≤ 16,000 (pgvector's VECTOR_MAX_DIM)
 * @param vectorOid the OID of the `vector` type in this database (`vectorTypeOid`)
 * @throws RangeError naming the vector and element when a vector has the
 *   wrong length or a NaN/±Infinity (the server would refuse it anyway,
 *   without saying which row)
 */
export function encodeVectorArray(
  vectors: ReadonlyArray<ArrayLike<number>>,
  dimensions: number,
  vectorOid: number,
): Buffer {
  if (!Number.isInteger(dimensions) || dimensions < 1 || dimensions > 16_000) {
    throw new RangeError(`dimensions must be an integer from 1 to 16000 (pgvector's limit), got ${dimensions}`);
  }
  const elementBytes = VECTOR_HEADER_BYTES + 4 * dimensions;
  const buf = Buffer.allocUnsafe(20 + vectors.length * (4 + elementBytes));
  let o = 0;
  o = buf.writeInt32BE(1, o); // ndim
  o = buf.writeInt32BE(0, o); // no NULL elements
  o = buf.writeUInt32BE(vectorOid, o);
  o = buf.writeInt32BE(vectors.length, o);
  o = buf.writeInt32BE(1, o); // lower bound
  vectors.forEach((v, i) => {
    if (v.length !== dimensions) throw new RangeError(`vector ${i} has ${v.length} dimensions, expected ${dimensions}`);
    o = buf.writeInt32BE(elementBytes, o);
    o = buf.writeInt16BE(dimensions, o);
    o = buf.writeInt16BE(0, o);
    for (let j = 0; j < dimensions; j++) {
      const x = v[j] as number;
      if (!Number.isFinite(x))
        throw new RangeError(
          `vector ${i} has a non-finite element ${x} at index ${j}: pgvector stores finite floats only`,
        );
    }
    if (v instanceof Float32Array && os.endianness() === 'LE') {
      // Already float32: copy the bytes and swap them to network order.
      Buffer.from(v.buffer, v.byteOffset, v.byteLength).copy(buf, o);
      buf.subarray(o, o + v.byteLength).swap32();
      o += v.byteLength;
    } else {
      for (let j = 0; j < dimensions; j++) o = buf.writeFloatBE(v[j] as number, o);
    }
  });
  return buf;
}

const oids = new Map<pg.Pool | string, Promise<number>>();

/**
 * The OID of the `vector` type as the pool's search_path resolves it (the
 * extension's types get a new OID in every database). Cached per pool; a
 * failed lookup is not cached.
 * @throws the query's error, e.g. `type "vector" does not exist` before the migrations ran
 */
export function vectorTypeOid(pool: pg.Pool, via: Pick<pg.Pool, 'query'> = pool): Promise<number> {
  // Keyed by the server's URL when there is one, so per-job views of a pool
  // (src/runtime/deadline.ts) share the answer.
  const cacheKey = (pool as { options?: { connectionString?: string } }).options?.connectionString ?? pool;
  let oid = oids.get(cacheKey);
  if (!oid) {
    oid = via.query<{ oid: number }>(`SELECT 'vector'::regtype::oid AS oid`).then((r) => Number(r.rows[0]!.oid));
    oid.catch(() => oids.delete(cacheKey));
    oids.set(cacheKey, oid);
  }
  return oid;
}
