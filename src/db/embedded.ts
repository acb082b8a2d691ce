/**
 * The embedded database default: PGlite (Postgres compiled to WASM) with its
 * pgvector extension, data under `<DATA_DIR>/pglite`, served on a loopback
 * port (pglite-socket's wire protocol, our exchange-aware queue: see
 * pglite-server.ts) so that the ordinary `pg` pool talks to it.
 *
 * A PGlite data directory can only be opened by one process. The process
 * that opens it writes `<DATA_DIR>/pglite.lock` ({pid, port}); another Sluice
 * process of the same data directory (a second CLI, a worker) finds the live
 * owner there and connects to its port instead of opening the files.
 */
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { Config } from '../config/config.ts';
import type { Logger } from '../log/logger.ts';

export interface EmbeddedPostgres {
  /** postgres:// URL of the loopback socket server. */
  url: string;
  dataDir: string;
  /** Stops the server and PGlite when this process owns them. */
  close(): Promise<void>;
}

/** pglite-socket queues queries per connection; 16 lets a pool of 10 plus tools connect. */
const MAX_CONNECTIONS = 16;

interface LockInfo {
  pid: number;
  port: number;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function urlFor(port: number): string {
  return `postgres://postgres@127.0.0.1:${port}/postgres?sslmode=disable`;
}

async function readLock(lockPath: string): Promise<LockInfo | undefined> {
  try {
    return JSON.parse(await fs.readFile(lockPath, 'utf8')) as LockInfo;
  } catch {
    return undefined;
  }
}

/**
 * Starts PGlite and its socket server, or joins the live server of another
 * process that owns the same data directory.
 */
export async function startEmbeddedPostgres(config: Config, logger: Logger): Promise<EmbeddedPostgres> {
  const dataDir = path.join(config.dataDir, 'pglite');
  const lockPath = path.join(config.dataDir, 'pglite.lock');
  await fs.mkdir(config.dataDir, { recursive: true });

  const existing = await readLock(lockPath);
  if (existing && existing.pid !== process.pid && isAlive(existing.pid) && (await canConnect(existing.port))) {
    logger.info(
      { dataDir, port: existing.port, ownerPid: existing.pid },
      'joining the embedded PGlite server of another process',
    );
    return { url: urlFor(existing.port), dataDir, close: async () => {} };
  }
  if (existing) await fs.rm(lockPath, { force: true });

  // Imported lazily: a deployment with DATABASE_URL never loads the WASM.
  const { PGlite } = await import('@electric-sql/pglite');
  const { vector } = await import('@electric-sql/pglite-pgvector');
  const { servePglite } = await import('./pglite-server.ts');

  const db = await PGlite.create(dataDir, { extensions: { vector } });
  const server = await servePglite(db, '127.0.0.1', config.db.pgliteport, MAX_CONNECTIONS);
  const port = server.port;
  const handle = await fs.open(lockPath, 'wx').catch(() => undefined);
  if (!handle) {
    // Another process won the race for the lock: step back and join it.
    await server.close();
    await db.close();
    return startEmbeddedPostgres(config, logger);
  }
  await handle.writeFile(JSON.stringify({ pid: process.pid, port } satisfies LockInfo));
  await handle.close();
  logger.info({ dataDir, port }, 'embedded PGlite with pgvector serving on loopback (DATABASE_URL unset)');

  let closed = false;
  return {
    url: urlFor(port),
    dataDir,
    async close() {
      if (closed) return;
      closed = true;
      await server.close();
      await db.close();
      await fs.rm(lockPath, { force: true });
    },
  };
}
