/**
 * The embedded PGlite server under concurrent `pg` connections: parameterised
 * queries (extended protocol) and transactions from many connections at once
 * must not interleave inside one session.
 */
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_CONNECTIONS } from '../../src/db/embedded.ts';
import { servePglite, type PgliteServer } from '../../src/db/pglite-server.ts';

let db: PGlite;
let server: PgliteServer;
let pool: pg.Pool;

beforeAll(async () => {
  db = await PGlite.create({ extensions: { vector } });
  server = await servePglite(db, '127.0.0.1', 0, 16);
  pool = new pg.Pool({
    connectionString: `postgres://postgres@127.0.0.1:${server.port}/postgres?sslmode=disable`,
    max: 10,
  });
  await pool.query('CREATE EXTENSION IF NOT EXISTS vector');
  await pool.query('CREATE TABLE t (k int PRIMARY KEY, v text NOT NULL, e vector(3))');
});

afterAll(async () => {
  await pool?.end();
  await server?.close();
  await db?.close();
});

describe('servePglite', () => {
  it('at the embedded default, serves the pools of several processes at once (two syncs and a worker: 39 connections)', async () => {
    // Each process of a data directory connects with up to 10 + 2 + 1 connections; one over the
    // server's limit is reset (a concurrent sync read "read ECONNRESET" at 16).
    const shared = await servePglite(db, '127.0.0.1', 0, MAX_CONNECTIONS);
    const clients = Array.from(
      { length: 39 },
      () =>
        new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${shared.port}/postgres?sslmode=disable` }),
    );
    try {
      const results = await Promise.allSettled(
        clients.map(async (c) => {
          await c.connect();
          return (await c.query<{ one: number }>('SELECT 1 AS one')).rows[0]!.one;
        }),
      );
      const failed = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
      expect(failed).toEqual([]);
    } finally {
      await Promise.allSettled(clients.map((c) => c.end()));
      await shared.close();
    }
  });

  it('answers 500 concurrent parameterised queries from 10 connections correctly', async () => {
    const results = await Promise.all(
      Array.from({ length: 500 }, (_, i) =>
        pool.query<{ a: number; b: string }>('SELECT $1::int * 2 AS a, $2::text || $3::text AS b', [i, 'x', String(i)]),
      ),
    );
    for (const [i, r] of results.entries()) expect(r.rows[0]).toEqual({ a: i * 2, b: `x${i}` });
  });

  it('keeps concurrent transactions apart, commits and rollbacks included', async () => {
    await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const c = await pool.connect();
        try {
          await c.query('BEGIN');
          await c.query('INSERT INTO t (k, v, e) VALUES ($1, $2, $3)', [i, `row ${i}`, `[${i},1,2]`]);
          await new Promise((r) => setTimeout(r, i % 3)); // other connections queue meanwhile
          await c.query('UPDATE t SET v = v || $2 WHERE k = $1', [i, '!']);
          await c.query(i % 4 === 0 ? 'ROLLBACK' : 'COMMIT');
        } finally {
          c.release();
        }
      }),
    );
    const { rows } = await pool.query<{ n: number; bad: number }>(
      `SELECT count(*)::int AS n, count(*) FILTER (WHERE v NOT LIKE '%!')::int AS bad FROM t`,
    );
    expect(rows[0]).toEqual({ n: 30, bad: 0 });
  });

  it('rolls back what a connection that dies mid-transaction left open', async () => {
    const c = new pg.Client({
      connectionString: `postgres://postgres@127.0.0.1:${server.port}/postgres?sslmode=disable`,
    });
    c.on('error', () => {}); // the connection is killed on purpose below
    await c.connect();
    await c.query('BEGIN');
    await c.query('INSERT INTO t (k, v) VALUES ($1, $2)', [1000, 'orphan']);
    (c as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    await new Promise((r) => setTimeout(r, 100));
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM t WHERE k = 1000');
    expect(rows[0].n).toBe(0);
  });
});
