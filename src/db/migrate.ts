/**
 * Applies migrations/ (append-only numbered SQL) with node-pg-migrate: each
 * file in its own transaction, serialised across processes by its advisory
 * lock (waiting, not failing, when another process migrates). Refuses a
 * server or pgvector too old for the SQL it runs.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import { UnsupportedDatabaseError } from '../errors/index.ts';
import type { Logger } from '../log/logger.ts';
import type { Db } from './db.ts';
import { ensureVectorIndex } from './vector-index.ts';

export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../migrations');

/** Oldest supported server: 15 (server_version_num). */
const MIN_SERVER_VERSION = 150000;
/** Oldest supported pgvector: 0.7.0 (halfvec for HNSW over 2,000 dimensions). */
const MIN_PGVECTOR = [0, 7, 0] as const;

function versionAtLeast(version: string, min: readonly number[]): boolean {
  const parts = version.split('.').map((p) => Number.parseInt(p, 10) || 0);
  for (let i = 0; i < min.length; i++) {
    const a = parts[i] ?? 0;
    const b = min[i] ?? 0;
    if (a !== b) return a > b;
  }
  return true;
}

async function checkServer(db: Db): Promise<void> {
  const { rows } = await db.pool.query<{ v: string; available: string | null }>(
    `SELECT current_setting('server_version_num') AS v,
            (SELECT default_version FROM pg_available_extensions WHERE name = 'vector') AS available`,
  );
  const row = rows[0]!;
  if (Number(row.v) < MIN_SERVER_VERSION) {
    throw new UnsupportedDatabaseError(
      `Postgres server_version_num ${row.v} is too old: Sluice needs Postgres 15 or newer.`,
    );
  }
  if (!row.available) {
    throw new UnsupportedDatabaseError(
      `The pgvector extension is not installed on ${db.displayUrl}. Install it (Debian: bash .ci/install-pgvector.sh builds 0.8 from source; ` +
        `or use the pgvector/pgvector image), or unset DATABASE_URL for the embedded default.`,
    );
  }
  if (!versionAtLeast(row.available, MIN_PGVECTOR)) {
    throw new UnsupportedDatabaseError(
      `pgvector ${row.available} is too old: Sluice needs ${MIN_PGVECTOR.join('.')} or newer.`,
    );
  }
}

/**
 * Brings the schema up to date and makes sure the vector index for the
 * configured dimensions exists. Safe to call from many processes at once.
 * @returns the names of the migrations applied by this call.
 * @throws UnsupportedDatabaseError for a server or pgvector that is too old.
 */
export async function migrate(db: Db, logger: Logger, dimensions: number): Promise<string[]> {
  await checkServer(db);
  const client = await db.pool.connect();
  let names: string[] = [];
  try {
    // Migrations may build indexes for longer than DATABASE_STATEMENT_TIMEOUT_MS allows a job's statement.
    await client.query('SET statement_timeout = 0');
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${db.schema}"`);
    if (db.mode === 'embedded') await client.query(`SET sluice.embedded = 'on'`);
    const applied = await runner({
      dbClient: client,
      dir: MIGRATIONS_DIR,
      migrationsTable: 'schema_migrations',
      schema: [db.schema, 'public'],
      migrationsSchema: db.schema,
      direction: 'up',
      singleTransaction: false,
      checkOrder: true,
      advisoryLockMode: 'wait',
      logger: {
        debug: () => {},
        info: (m: string) => logger.debug(m),
        warn: (m: string) => logger.warn(m),
        error: (m: string) => logger.error(m),
      },
    });
    names = applied.map((m) => m.name);
    if (names.length) logger.info({ applied: names, schema: db.schema }, 'migrations applied');
  } finally {
    await client.query('RESET statement_timeout').catch(() => {});
    client.release();
  }
  await ensureVectorIndex(db.pool, dimensions, db.mode === 'embedded');
  return names;
}
