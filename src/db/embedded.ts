/**
 * The embedded database default: PGlite (Postgres compiled to WASM) with its
 * pgvector extension, data under `<DATA_DIR>/pglite`, served on a loopback
 * port (pglite-socket's wire protocol, our exchange-aware queue: see
 * pglite-server.ts) so that the ordinary `pg` pool talks to it.
 *
 * A PGlite data directory can only be opened by one process. The process
 * that opens it first creates `<DATA_DIR>/pglite.lock` ({pid}, atomically),
 * then opens the files and adds its port ({pid, port}); another Sluice
 * process of the same data directory (a second CLI, a worker) finds the live
 * owner there and connects to its port instead of opening the files (waiting
 * while the owner starts). The embedded emulator is shared the same way
 * (src/openai/emulator.ts).
 */
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { Config } from '../config/config.ts';
import { StartupError } from '../errors/index.ts';
import { createLock, isAlive, readLock, removeLockOf, replaceLock } from '../locks/lock-file.ts';
import type { Logger } from '../log/logger.ts';

export interface EmbeddedPostgres {
  /** postgres:// URL of the loopback socket server. */
  url: string;
  dataDir: string;
  /**
   * Lets other processes join (writes the port into the lock) once this
   * process, the owner, has prepared the database; nothing for a joiner.
   */
  publish(): Promise<void>;
  /**
   * Stops the server and PGlite when this process owns them, after the
   * other processes' connections have closed (at most 30 s).
   */
  close(): Promise<void>;
}

/**
 * Connections the socket server accepts (Node's `server.maxConnections`:
 * one more is reset, and its client reads ECONNRESET). Every process of the
 * data directory connects here with its pools — up to DATABASE_POOL_MAX (10)
 * + DATABASE_WRITE_POOL_MAX (2) + 1 probe each — so two syncs at once and a
 * worker already need ~40; at 16 a concurrent sync read ECONNRESET. Queries
 * are queued one at a time whatever the count, so idle connections cost
 * only a socket. Postgres's own default.
 */
export const MAX_CONNECTIONS = 100;

interface LockInfo {
  pid: number;
  /** Absent while the owner is still starting. */
  port?: number;
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

/** How long a process waits for a server another process is starting, ms. */
const JOIN_TIMEOUT_MS = 60_000;

/** How long an owner that is closing waits for other processes' connections, ms. */
const LINGER_MS = 30_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts PGlite and its socket server, or joins the live server of another
 * process that owns the same data directory. The lock is taken before the
 * files are opened (PGlite aborts when two processes open them at once): a
 * process that finds it held by a live process that does not answer yet
 * waits for its port.
 */
export async function startEmbeddedPostgres(config: Config, logger: Logger): Promise<EmbeddedPostgres> {
  const dataDir = path.join(config.dataDir, 'pglite');
  const lockPath = path.join(config.dataDir, 'pglite.lock');
  await fs.mkdir(config.dataDir, { recursive: true });
  const deadline = Date.now() + JOIN_TIMEOUT_MS;

  for (;;) {
    if (await createLock(lockPath, { pid: process.pid })) break;
    const existing = await readLock<LockInfo>(lockPath);
    if (existing && existing.pid !== process.pid && isAlive(existing.pid)) {
      if (existing.port !== undefined && (await canConnect(existing.port))) {
        logger.info(
          { dataDir, port: existing.port, ownerPid: existing.pid },
          'joining the embedded PGlite server of another process',
        );
        return { url: urlFor(existing.port), dataDir, publish: async () => {}, close: async () => {} };
      }
      if (Date.now() > deadline) {
        throw new StartupError(
          `process ${existing.pid} holds ${lockPath} but does not answer; stop it or remove the file`,
        );
      }
    } else if (existing) {
      await removeLockOf(lockPath, existing.pid); // its process is gone: stale
      continue;
    }
    if (!existing && Date.now() > deadline) throw new StartupError(`${lockPath} cannot be read; remove it`);
    await sleep(100); // being started: look again
  }

  try {
    // Imported lazily: a deployment with DATABASE_URL never loads the WASM.
    const { PGlite } = await import('@electric-sql/pglite');
    const { vector } = await import('@electric-sql/pglite-pgvector');
    const { servePglite } = await import('./pglite-server.ts');

    const db = await PGlite.create(dataDir, { extensions: { vector } });
    const server = await servePglite(db, '127.0.0.1', config.db.pgliteport, MAX_CONNECTIONS);
    const port = server.port;
    logger.info({ dataDir, port }, 'embedded PGlite with pgvector serving on loopback (DATABASE_URL unset)');

    let closed = false;
    return {
      url: urlFor(port),
      dataDir,
      async publish() {
        await replaceLock<LockInfo>(lockPath, { pid: process.pid, port });
      },
      async close() {
        if (closed) return;
        closed = true;
        // This process's pools are closed by now: what is left belongs to processes that joined.
        const until = Date.now() + LINGER_MS;
        if (server.connections() > 0) {
          logger.info(
            { connections: server.connections() },
            'waiting for other processes to close their connections to the embedded PGlite server',
          );
        }
        while (server.connections() > 0 && Date.now() < until) await sleep(100);
        await server.close();
        await db.close();
        await removeLockOf(lockPath, process.pid);
      },
    };
  } catch (err) {
    await removeLockOf(lockPath, process.pid);
    throw err;
  }
}
