/**
 * Serves one PGlite instance to many `pg` connections on a loopback port.
 *
 * PGlite is a single Postgres session. pglite-socket's own query queue
 * interleaves connections message by message, which is only safe for the
 * simple query protocol: `pg` sends parameterised queries with the extended
 * protocol (Parse, Bind, Describe, Execute, Sync), and another connection's
 * Parse in between replaces the session's unnamed statement ("unnamed
 * prepared statement does not exist", "bind message supplies 2 parameters").
 * This queue gives the session to one connection from its first
 * extended-protocol message until its Sync, and for a whole transaction;
 * pglite-socket's handler still does the wire protocol.
 */
import net from 'node:net';
import type { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketHandler } from '@electric-sql/pglite-socket';

interface Item {
  handlerId: number;
  message: Uint8Array;
  onData: (data: Uint8Array) => void;
  resolve: (bytes: number) => void;
  reject: (err: Error) => void;
}

/** Frontend message types that end an exchange: Sync, simple Query, Terminate. */
const ENDS_EXCHANGE = new Set(['S', 'Q', 'X']);

/** The type byte of a frontend message, or null for a startup/SSL/cancel packet (no type byte). */
function messageType(message: Uint8Array): string | null {
  if (message.length >= 8) {
    const length = new DataView(message.buffer, message.byteOffset, message.byteLength).getInt32(0);
    if (length === message.length) return null; // untyped packet: its first 4 bytes are its length
  }
  return String.fromCharCode(message[0]!);
}

/** The query queue handed to every PGLiteSocketHandler (duck-typed to pglite-socket's). */
export class ExchangeQueue {
  readonly #db: PGlite;
  #queue: Item[] = [];
  #processing = false;
  /** The connection that holds the session: mid extended-protocol exchange or in a transaction. */
  #owner: number | null = null;

  constructor(db: PGlite) {
    this.#db = db;
  }

  enqueue(handlerId: number, message: Uint8Array, onData: (data: Uint8Array) => void): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ handlerId, message, onData, resolve, reject });
      void this.#process();
    });
  }

  async #process(): Promise<void> {
    if (this.#processing) return;
    this.#processing = true;
    try {
      while (this.#queue.length) {
        const index = this.#owner === null ? 0 : this.#queue.findIndex((i) => i.handlerId === this.#owner);
        if (index === -1) return; // the owner's next message has not arrived yet
        const item = this.#queue.splice(index, 1)[0]!;
        let bytes = 0;
        try {
          await this.#db.runExclusive(() =>
            this.#db.execProtocolRawStream(item.message, {
              onRawData: (data: Uint8Array) => {
                bytes += data.length;
                item.onData(data);
              },
            }),
          );
        } catch (err) {
          this.#owner = this.#db.isInTransaction() ? item.handlerId : null;
          item.reject(err as Error);
          continue;
        }
        const type = messageType(item.message);
        const midExchange = type !== null && !ENDS_EXCHANGE.has(type);
        this.#owner = midExchange || this.#db.isInTransaction() ? item.handlerId : null;
        item.resolve(bytes);
      }
    } finally {
      this.#processing = false;
    }
  }

  getQueueLength(): number {
    return this.#queue.length;
  }

  clearQueueForHandler(handlerId: number): void {
    this.#queue = this.#queue.filter((i) => {
      if (i.handlerId !== handlerId) return true;
      i.reject(new Error('connection closed'));
      return false;
    });
  }

  /** A connection went away: roll back what it left open and free the session. */
  async clearTransactionIfNeeded(handlerId: number): Promise<void> {
    if (this.#owner !== handlerId) return;
    if (this.#db.isInTransaction()) await this.#db.exec('ROLLBACK').catch(() => {});
    this.#owner = null;
    void this.#process();
  }
}

export interface PgliteServer {
  port: number;
  /** Open client connections. */
  connections(): number;
  close(): Promise<void>;
}

/** Listens on `host:port` (0 = any free port) and serves `db` to up to `maxConnections` clients. */
export async function servePglite(
  db: PGlite,
  host: string,
  port: number,
  maxConnections: number,
): Promise<PgliteServer> {
  const queue = new ExchangeQueue(db);
  const handlers = new Set<PGLiteSocketHandler>();
  const server = net.createServer((socket) => {
    const handler = new PGLiteSocketHandler({ queryQueue: queue as never, closeOnDetach: true });
    handlers.add(handler);
    handler.addEventListener('close', () => handlers.delete(handler));
    handler.addEventListener('error', () => handlers.delete(handler));
    handler.attach(socket).catch(() => socket.destroy());
  });
  server.maxConnections = maxConnections;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => handlers.size,
    async close() {
      for (const h of handlers) await h.detach(true).catch(() => {});
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
