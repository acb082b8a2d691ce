/**
 * Test services: the machine's Redis and PostgreSQL (with pgvector). Each
 * test gets its own queue prefix and schema and removes them afterwards.
 * A missing service fails loudly with the command that starts it.
 */
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';

export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export async function requireRedis(): Promise<void> {
  const r = new Redis(TEST_REDIS_URL, {
    maxRetriesPerRequest: 0,
    connectTimeout: 2000,
    retryStrategy: () => null,
    lazyConnect: true,
  });
  r.on('error', () => {});
  try {
    await r.connect();
    await r.ping();
  } catch (err) {
    throw new Error(
      `Redis is not reachable at ${TEST_REDIS_URL} (${(err as Error).message}). Start it with:\n` +
        `  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no`,
    );
  } finally {
    r.disconnect();
  }
}

export async function requirePostgres(): Promise<void> {
  const c = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    const { rows } = await c.query(`SELECT 1 FROM pg_available_extensions WHERE name = 'vector'`);
    if (!rows.length) throw new Error('pgvector is not installed: run  bash .ci/install-pgvector.sh');
  } catch (err) {
    throw new Error(
      `PostgreSQL with pgvector is not usable at ${TEST_DATABASE_URL}: ${(err as Error).message}\n` +
        `  start it: pg_ctlcluster --skip-systemctl-redirect 15 main start\n  pgvector: bash .ci/install-pgvector.sh`,
    );
  } finally {
    await c.end().catch(() => {});
  }
}

/** A unique, isolated environment: queue prefix and schema. */
export interface TestIsolation {
  prefix: string;
  schema: string;
  env: Record<string, string>;
  cleanup(): Promise<void>;
}

/**
 * Creates a queue prefix and schema for one test (file) and the env that
 * points Sluice at them. `cleanup` deletes both.
 */
export function isolate(
  extraEnv: Record<string, string> = {},
  opts: { postgres?: boolean } = { postgres: true },
): TestIsolation {
  const id = randomBytes(5).toString('hex');
  const prefix = `sluice-test-${id}`;
  const schema = `t_${id}`;
  const env: Record<string, string> = {
    REDIS_URL: TEST_REDIS_URL,
    QUEUE_PREFIX: prefix,
    DATABASE_SCHEMA: schema,
    LOG_LEVEL: 'silent',
    ...(opts.postgres === false ? {} : { DATABASE_URL: TEST_DATABASE_URL }),
    // With DATABASE_URL set the emulator is never implied: tests without a key of their own ask for it.
    ...(opts.postgres === false || extraEnv.OPENAI_API_KEY ? {} : { OPENAI_EMULATOR: 'true' }),
    // Test servers listen on loopback: allowed by configuration, as an operator would (never by a job payload).
    CRAWL_ALLOW_HOSTS: '127.0.0.1',
    // Test projects and sites are written under the temporary directory: the one source root tests name.
    SOURCE_ROOTS: os.tmpdir(),
    ...extraEnv,
  };
  return {
    prefix,
    schema,
    env,
    async cleanup() {
      const r = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
      try {
        let cursor = '0';
        do {
          const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
          cursor = next;
          if (keys.length) await r.del(...keys);
        } while (cursor !== '0');
      } finally {
        r.disconnect();
      }
      if (opts.postgres !== false) {
        const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await c.end();
      }
    },
  };
}
