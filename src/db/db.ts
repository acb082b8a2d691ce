/**
 * One `pg` code path for both modes: a real Postgres (DATABASE_URL) or the
 * embedded PGlite default, which is served on a loopback port by
 * pglite-socket so the same pool, SQL and transactions work against it.
 */
import pLimit from 'p-limit';
import pg from 'pg';
import { DatabaseUnavailableError } from '../errors/index.ts';
import type { Config } from '../config/config.ts';
import type { Logger } from '../log/logger.ts';
import { redactUrl } from '../log/logger.ts';
import { within } from '../runtime/deadline.ts';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded.ts';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

/** A connected database handle. */
export interface Db {
  pool: pg.Pool;
  /**
   * Runs `fn` on a small pool of its own for vector writes
   * (`DATABASE_WRITE_POOL_MAX` connections): inserting an embedding updates
   * the HNSW index, milliseconds of CPU per row, and a backlog of those on
   * the shared pool would queue the lookups and claims that decide when the
   * next API request goes out. Callers wait for a free connection here,
   * without a deadline: pg-pool's own queue would fail a write after
   * `connectionTimeoutMillis` (10 s) of waiting behind other writes, and the
   * job would pay for its embeddings again. Connecting keeps that timeout.
   */
  write<T>(fn: (pool: pg.Pool) => Promise<T>): Promise<T>;
  /** `postgres` for DATABASE_URL, `embedded` for the PGlite default. */
  mode: 'postgres' | 'embedded';
  /** Connection URL with the password redacted, for logs and messages. */
  displayUrl: string;
  /**
   * Asks the server `SELECT 1` on a connection of its own (never waiting
   * behind the pools' busy connections), within `timeoutMs`.
   * @throws when the server does not answer in time.
   */
  ping(timeoutMs: number): Promise<void>;
  schema: string;
  close(): Promise<void>;
}

/**
 * Connects to Postgres, or starts (or joins) the embedded PGlite server.
 * Every connection gets `search_path = <schema>, public` and an
 * `application_name` naming the process role.
 * @param prepare run once connected (migrations): a process that starts the
 *   embedded server runs it before other processes may join, so they never
 *   see the schema half-made (PGlite is one session: the migration advisory
 *   lock cannot keep two processes apart there)
 * @throws DatabaseUnavailableError when the server does not answer.
 */
export async function connectDb(
  config: Config,
  logger: Logger,
  role = 'sluice',
  prepare?: (db: Db) => Promise<unknown>,
): Promise<Db> {
  let embedded: EmbeddedPostgres | undefined;
  let url = config.db.url;
  if (!url) {
    embedded = await startEmbeddedPostgres(config, logger);
    url = embedded.url;
  }
  const schema = config.db.schema;
  const { connectTimeoutMs, statementTimeoutMs, idleTimeoutMs, keepAliveDelayMs } = config.db;
  const poolOf = (max: number, name: string) => {
    const p = new pg.Pool({
      connectionString: url,
      max,
      application_name: `sluice-${name}`,
      connectionTimeoutMillis: connectTimeoutMs,
      idleTimeoutMillis: idleTimeoutMs,
      keepAlive: keepAliveDelayMs > 0,
      keepAliveInitialDelayMillis: keepAliveDelayMs,
      // Session settings in the startup packet, so they hold before any query;
      // statement_timeout bounds every statement on the server side (a query
      // stuck behind a lock or a half-open connection ends, the job retries).
      options:
        `-c search_path=${schema},public -c statement_timeout=${statementTimeoutMs}` +
        (embedded ? ' -c sluice.embedded=on' : ''),
    });
    p.on('error', (err) => logger.warn({ err: { message: err.message } }, 'idle database connection failed'));
    // A checked-out client whose connection drops between queries emits
    // 'error' on itself; unhandled, that would kill the process during a
    // database outage. Its current or next query fails instead, and the job
    // wrapper waits for Postgres.
    p.on('connect', (client) => {
      client.on('error', (err) => logger.warn({ err: { message: err.message } }, 'database connection lost'));
    });
    return p;
  };
  // The probe's own pool of one: a probe must not queue behind busy jobs, or
  // a loaded worker would read as a database outage.
  const probePool = poolOf(1, `${role}-probe`);
  const pool = poolOf(config.db.poolMax, role);
  const writePool = poolOf(config.db.writePoolMax, `${role}-writes`);
  // As many writers as connections: pg-pool's waiting queue stays empty.
  const writeSlot = pLimit(config.db.writePoolMax);
  try {
    await pool.query('SELECT 1');
  } catch (err) {
    await pool.end().catch(() => {});
    await writePool.end().catch(() => {});
    await probePool.end().catch(() => {});
    await embedded?.close();
    throw new DatabaseUnavailableError(
      `Cannot reach Postgres at ${redactUrl(url)}: ${(err as Error).message}. ` +
        `Start it (pg_ctlcluster --skip-systemctl-redirect 15 main start) or unset DATABASE_URL to use the embedded PGlite default.`,
      { cause: err },
    );
  }
  const db: Db = {
    pool,
    write: (fn) => writeSlot(() => fn(writePool)),
    mode: embedded ? 'embedded' : 'postgres',
    displayUrl: embedded ? `pglite:${embedded.dataDir} (${url})` : redactUrl(url),
    schema,
    ping: (timeoutMs) => pingWithin(probePool, timeoutMs),
    async close() {
      await Promise.all([pool.end(), writePool.end(), probePool.end()]);
      await embedded?.close();
    },
  };
  try {
    await prepare?.(db);
    await embedded?.publish();
  } catch (err) {
    await db.close();
    throw err;
  }
  return db;
}

/**
 * `SELECT 1` within `timeoutMs`. A connection that did not answer in time is
 * destroyed rather than returned: a half-open socket must not serve the next probe.
 */
async function pingWithin(pool: pg.Pool, timeoutMs: number): Promise<void> {
  let client: pg.PoolClient | undefined;
  let late = false;
  try {
    await within(
      (async () => {
        const c = await pool.connect();
        if (late) {
          c.release(true);
          return;
        }
        client = c;
        await c.query('SELECT 1');
      })(),
      timeoutMs,
    ).catch((err: unknown) => {
      late = true;
      throw err;
    });
    client?.release();
    client = undefined;
  } finally {
    client?.release(true);
  }
}

/** Runs `fn` in a transaction on one client; rolls back on any error. */
export async function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}
