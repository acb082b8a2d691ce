/**
 * A `redis-server` of the test's own (never the machine's shared one), with
 * AOF on, on a free port, in a temporary directory: tests stop and restart
 * it to stage outages, and its data survives the restart as a production
 * Redis with AOF would. With `{ aof: false }` it keeps nothing on disk, so a
 * restart comes back empty, as a Redis without persistence does.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';

export interface OwnRedis {
  url: string;
  port: number;
  /** Shuts the server down (SHUTDOWN: the AOF, when on, is flushed), resolves once the process exited. */
  stop(): Promise<void>;
  /** Starts it again on the same port and directory; resolves once it answers PING. */
  start(): Promise<void>;
  /** Stops it for good and removes its directory. */
  close(): Promise<void>;
}

/** A free TCP port on loopback (bound and released). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/**
 * Starts a redis-server, with AOF unless `aof` is false.
 * @throws naming the install command when redis-server is missing.
 */
export async function startOwnRedis(options: { aof?: boolean } = {}): Promise<OwnRedis> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-redis-'));
  let child: ChildProcess | undefined;
  const url = `redis://127.0.0.1:${port}`;

  const start = async () => {
    child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--appendonly',
        options.aof === false ? 'no' : 'yes',
        '--save',
        '',
        '--dir',
        dir,
      ],
      { stdio: 'ignore' },
    );
    child.on('error', () => {});
    const deadline = Date.now() + 10_000;
    for (;;) {
      const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => {});
      try {
        await probe.connect();
        await probe.ping();
        return;
      } catch (err) {
        if (child.exitCode !== null || Date.now() > deadline)
          throw new Error(
            `redis-server did not start on port ${port} (${(err as Error).message}); is it installed? apt-get install -y redis-server`,
          );
        await new Promise((r) => setTimeout(r, 50));
      } finally {
        probe.disconnect();
      }
    }
  };
  const stop = async () => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM'); // redis-server shuts down cleanly on SIGTERM, flushing the AOF
    await exited;
  };
  await start();
  return {
    url,
    port,
    start,
    stop,
    async close() {
      await stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
