/**
 * Binary `vector[]` parameters (src/store/vector-binary.ts) against the two
 * engines Sluice writes to: the machine's PostgreSQL with pgvector, and the
 * embedded PGlite server. Vectors must arrive bit for bit (float32), wrong
 * input must fail with the vector named, and insertEmbeddings must stay
 * idempotent.
 */
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { servePglite, type PgliteServer } from '../../src/db/pglite-server.ts';
import { insertEmbeddings } from '../../src/store/embeddings.ts';
import { encodeVectorArray, vectorTypeOid } from '../../src/store/vector-binary.ts';
import { isolate, requirePostgres, TEST_DATABASE_URL } from '../helpers/services.ts';

/** Values that need all of float32's precision, and its extremes. */
const SAMPLES = [
  [Math.fround(0.1), Math.fround(-1 / 3), Math.fround(1e-38), Math.fround(3.4e38), -0, Math.fround(Math.PI)],
  [1, 2, 3, 4, 5, 6],
];

interface Engine {
  name: string;
  pool: pg.Pool;
  close(): Promise<void>;
}

async function postgresEngine(): Promise<Engine> {
  await requirePostgres();
  const iso = isolate();
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  await admin.query('CREATE EXTENSION IF NOT EXISTS vector');
  await admin.query(`CREATE SCHEMA "${iso.schema}"`);
  await admin.end();
  const pool = new pg.Pool({
    connectionString: TEST_DATABASE_URL,
    options: `-c search_path=${iso.schema},public`,
    max: 4,
  });
  return {
    name: 'postgresql',
    pool,
    close: async () => {
      await pool.end();
      await iso.cleanup();
    },
  };
}

async function pgliteEngine(): Promise<Engine> {
  const db = await PGlite.create({ extensions: { vector } });
  const server: PgliteServer = await servePglite(db, '127.0.0.1', 0, 4);
  const pool = new pg.Pool({
    connectionString: `postgres://postgres@127.0.0.1:${server.port}/postgres?sslmode=disable`,
    max: 4,
  });
  await pool.query('CREATE EXTENSION IF NOT EXISTS vector');
  return {
    name: 'pglite',
    pool,
    close: async () => {
      await pool.end();
      await server.close();
      await db.close();
    },
  };
}

describe.each([
  ['postgresql', postgresEngine],
  ['pglite', pgliteEngine],
] as const)('binary vector[] on %s', (_name, open) => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await open();
    await engine.pool.query(`CREATE TABLE embeddings (model text, dimensions int, chunk_hash text, embedding vector(6), token_count int,
      PRIMARY KEY (model, dimensions, chunk_hash))`);
  });
  afterAll(async () => engine?.close());

  it('stores every float32 exactly', async () => {
    const oid = await vectorTypeOid(engine.pool);
    const { rows } = await engine.pool.query<{ v: string }>('SELECT unnest($1::vector[])::text AS v', [
      encodeVectorArray(SAMPLES, 6, oid),
    ]);
    const parsed = rows.map((r) => (JSON.parse(r.v) as number[]).map((x) => Math.fround(x)));
    expect(parsed).toEqual(SAMPLES.map((v) => v.map((x) => Math.fround(x))));
  });

  it('insertEmbeddings writes each hash once, however often it is called', async () => {
    const key = { model: 'm', dimensions: 6 };
    const rows = SAMPLES.map((vector, i) => ({ chunkHash: `h${i}`, vector, tokens: 10 + i }));
    const [first, again, race] = await Promise.all([
      insertEmbeddings(engine.pool, key, rows),
      insertEmbeddings(engine.pool, key, rows),
      insertEmbeddings(engine.pool, key, rows.slice(1)),
    ]);
    expect([...first, ...again, ...race].sort()).toEqual(['h0', 'h1']);
    const { rows: stored } = await engine.pool.query<{ chunk_hash: string; e: string; token_count: number }>(
      'SELECT chunk_hash, embedding::text AS e, token_count FROM embeddings ORDER BY chunk_hash',
    );
    expect(stored.map((r) => [r.chunk_hash, r.token_count])).toEqual([
      ['h0', 10],
      ['h1', 11],
    ]);
    expect(JSON.parse(stored[1]!.e)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(await insertEmbeddings(engine.pool, key, [])).toEqual([]);
  });

  it('the column still refuses vectors of another length', async () => {
    const oid = await vectorTypeOid(engine.pool);
    await expect(
      engine.pool.query(`INSERT INTO embeddings SELECT 'm', 3, 'x', v, 1 FROM unnest($1::vector[]) v`, [
        encodeVectorArray([[1, 2, 3]], 3, oid),
      ]),
    ).rejects.toThrow(/expected 6 dimensions, not 3/);
  });
});
