/**
 * A TCP proxy of the test's own in front of a real server (PostgreSQL), to
 * stage outages without touching the machine's shared server: `refuse()`
 * cuts every open connection and refuses new ones (the port is closed), as a
 * server that went down would; `accept()` forwards again on the same port;
 * `blackhole()` keeps every connection open and accepts new ones but forwards
 * nothing either way (a failover that left sockets half-open); `forward()`
 * ends it (the connections it held stay dead: their bytes were dropped).
 */
import net from 'node:net';
import { TEST_DATABASE_URL } from './services.ts';

export interface TcpProxy {
  port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Closes every proxied connection and stops listening: clients get ECONNREFUSED. */
  refuse(): Promise<void>;
  /** Listens again on the same port and forwards. */
  accept(): Promise<void>;
  /** Drops every byte both ways without closing anything. */
  blackhole(): void;
  /** Forwards again: resets the connections the blackhole held; new ones work. */
  forward(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  let server: net.Server | undefined;
  let port = 0;
  let holes = false;

  const listen = async () => {
    const s = net.createServer((client) => {
      connections++;
      const upstream = net.connect(target.port, target.host);
      sockets.add(client);
      sockets.add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      // A connection opened in a blackhole stays one: its handshake bytes are gone.
      let dead = holes;
      client.on('data', (d: Buffer) => {
        if (holes) dead = true;
        if (!dead) upstream.write(d);
      });
      upstream.on('data', (d: Buffer) => {
        if (holes) dead = true;
        if (!dead) client.write(d);
      });
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
    });
    server = s;
    port = (s.address() as net.AddressInfo).port;
  };
  const refuse = async () => {
    const s = server;
    server = undefined;
    for (const sock of sockets) sock.destroy();
    sockets.clear();
    if (s) await new Promise((r) => s.close(r));
  };
  await listen();
  return {
    get port() {
      return port;
    },
    get connections() {
      return connections;
    },
    refuse,
    accept: listen,
    blackhole: () => {
      holes = true;
    },
    forward: () => {
      holes = false;
      // The connections the blackhole held lost bytes: reset them, as the
      // kernel would once keepalive gives up on them.
      for (const sock of sockets) sock.destroy();
      sockets.clear();
    },
    close: refuse,
  };
}

/** A proxy of the test's own in front of the machine's PostgreSQL, and the database URL through it. */
export async function startDatabaseProxy(): Promise<{ proxy: TcpProxy; databaseUrl: string }> {
  const target = new URL(TEST_DATABASE_URL);
  const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  const through = new URL(TEST_DATABASE_URL);
  through.port = String(proxy.port);
  return { proxy, databaseUrl: through.toString() };
}
