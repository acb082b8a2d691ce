/**
 * A TCP proxy of the test's own in front of a real server (PostgreSQL), to
 * stage outages without touching the machine's shared server: `refuse()`
 * cuts every open connection and refuses new ones (the port is closed), as a
 * server that went down would; `accept()` forwards again on the same port.
 */
import net from 'node:net';

export interface TcpProxy {
  port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Closes every proxied connection and stops listening: clients get ECONNREFUSED. */
  refuse(): Promise<void>;
  /** Listens again on the same port and forwards. */
  accept(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  let server: net.Server | undefined;
  let port = 0;

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
      client.pipe(upstream);
      upstream.pipe(client);
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
    close: refuse,
  };
}
