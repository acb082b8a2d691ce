/**
 * Planner statistics after a run (src/db/analyze.ts), on the machine's
 * PostgreSQL (whose autovacuum is off, as on CI): a table that gained more
 * rows than autovacuum's threshold is analyzed once, a table that barely
 * changed is not, and the planner then knows the table's size.
 */
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { analyzeChangedTables } from '../../src/db/analyze.ts';
import { isolate, requirePostgres, type TestIsolation, TEST_DATABASE_URL } from '../helpers/services.ts';
import { until } from '../helpers/wait.ts';

let iso: TestIsolation;
let pool: pg.Pool;

beforeAll(async () => {
  await requirePostgres();
  iso = isolate();
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA "${iso.schema}"`);
  await admin.end();
  pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, options: `-c search_path="${iso.schema}"`, max: 2 });
});

afterAll(async () => {
  await pool?.end();
  await iso?.cleanup();
});

it('analyzes the tables a bulk load changed past the threshold, and only those', async () => {
  await pool.query('CREATE TABLE loaded (id int PRIMARY KEY, body text)');
  await pool.query('CREATE TABLE quiet (id int PRIMARY KEY)');
  await pool.query(`INSERT INTO loaded SELECT g, md5(g::text) FROM generate_series(1, 5000) g`);
  await pool.query(`INSERT INTO quiet SELECT g FROM generate_series(1, 10) g`);
  // The inserting backend reports its counts to the statistics system within about a second.
  const analyzed = await until(
    async () => {
      const tables = await analyzeChangedTables(pool);
      return tables.length ? tables : undefined;
    },
    'the load to show in pg_stat_user_tables',
    15_000,
  );
  const { rows } = await pool.query<{ reltuples: number }>(
    `SELECT reltuples FROM pg_class WHERE oid = 'loaded'::regclass`,
  );
  console.log(`analyzed ${JSON.stringify(analyzed)}; planner now estimates ${rows[0]!.reltuples} rows in loaded`);
  expect(analyzed).toEqual(['loaded']);
  expect(rows[0]!.reltuples).toBe(5000);
  expect(await analyzeChangedTables(pool)).toEqual([]);
});
