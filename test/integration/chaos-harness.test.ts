/**
 * The chaos run's own pieces against real processes and sockets: the
 * supervisor (test/bench/chaos/supervisor.ts) restarts what exits and tells
 * the harness's kills from any other exit; the TCP proxy
 * (test/helpers/tcp-proxy.ts) forwards, refuses, blackholes and forwards again.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Supervisor } from '../bench/chaos/supervisor.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { until } from '../helpers/wait.ts';

/** A `node -e` child process running `script`. */
function child(script: string) {
  return spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

describe('Supervisor', () => {
  it('restarts a SIGKILLed and a SIGTERMed process and counts neither as unexpected', async () => {
    const sup = new Supervisor(() => child('setInterval(() => {}, 1000)'), { restartDelayMs: 50 });
    cleanups.push(() => sup.close());
    sup.start(['a', 'b']);
    const [a, b] = sup.alive();
    sup.signal(a!, 'SIGKILL');
    sup.signal(b!, 'SIGTERM');
    await until(async () => (sup.restarts === 2 && sup.alive().length === 2 ? true : undefined), 'two restarts');
    expect(sup.exits.map((e) => [e.slot, e.sentBy, e.signal])).toEqual(
      expect.arrayContaining([
        ['a', 'sigkill', 'SIGKILL'],
        ['b', 'sigterm', 'SIGTERM'],
      ]),
    );
    expect(sup.unexpectedExits()).toEqual([]);
    expect(sup.alive().map((p) => p.pid)).not.toContain(a!.pid);
  });

  it('counts a process that exits by itself as unexpected, with its stderr, and restarts it', async () => {
    let launches = 0;
    const sup = new Supervisor(
      () => {
        launches++;
        return launches === 1
          ? child('console.error("boom: cannot start"); process.exit(2)')
          : child('setInterval(() => {}, 1000)');
      },
      { restartDelayMs: 50 },
    );
    cleanups.push(() => sup.close());
    sup.start(['w']);
    await until(async () => (launches === 2 && sup.alive().length === 1 ? true : undefined), 'the restart');
    const [exit] = sup.unexpectedExits();
    expect(exit).toMatchObject({ slot: 'w', code: 2, sentBy: null });
    expect(exit!.stderrTail).toContain('boom: cannot start');
  });

  it('marks a SIGSTOPped process stopped until SIGCONT', async () => {
    const sup = new Supervisor(() => child('setInterval(() => {}, 1000)'));
    cleanups.push(() => sup.close());
    sup.start(['s']);
    const [p] = sup.alive();
    sup.signal(p!, 'SIGSTOP');
    expect(sup.alive()[0]!.stopped).toBe(true);
    sup.signal(p!, 'SIGCONT');
    expect(sup.alive()[0]!.stopped).toBe(false);
    expect(sup.restarts).toBe(0);
  });

  it('does not restart anything once closed', async () => {
    const sup = new Supervisor(() => child('setInterval(() => {}, 1000)'), { restartDelayMs: 10 });
    sup.start(['x', 'y']);
    await sup.close();
    await new Promise((r) => setTimeout(r, 100));
    expect(sup.alive()).toEqual([]);
    expect(sup.restarts).toBe(0);
  });
});

describe('TCP proxy', () => {
  /** An echo server, and a round trip through the proxy with a deadline. */
  async function echoServer() {
    const server = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => server.close(r)));
    return (server.address() as net.AddressInfo).port;
  }
  function roundTrip(port: number, timeoutMs = 5000): Promise<'echo' | 'refused' | 'silent' | 'closed'> {
    return new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      const done = (r: 'echo' | 'refused' | 'silent' | 'closed') => {
        clearTimeout(timer);
        s.destroy();
        resolve(r);
      };
      const timer = setTimeout(() => done('silent'), timeoutMs);
      s.on('connect', () => s.write('ping'));
      s.on('data', () => done('echo'));
      s.on('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED' ? 'refused' : 'closed'));
      s.on('close', () => done('closed'));
    });
  }

  it('forwards, refuses, accepts again, blackholes and forwards again on one port', async () => {
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: await echoServer() });
    cleanups.push(() => proxy.close());
    expect(await roundTrip(proxy.port)).toBe('echo');

    await proxy.refuse();
    expect(await roundTrip(proxy.port)).toBe('refused');
    await proxy.accept();
    expect(await roundTrip(proxy.port)).toBe('echo');

    // A connection open before the blackhole goes silent, and is reset when forwarding resumes.
    const held = net.connect(proxy.port, '127.0.0.1');
    await new Promise((r) => held.once('connect', r));
    proxy.blackhole();
    expect(await roundTrip(proxy.port, 1000)).toBe('silent');
    const heldClosed = new Promise((r) => held.once('close', r));
    held.on('error', () => {});
    proxy.forward();
    await heldClosed;
    expect(await roundTrip(proxy.port)).toBe('echo');
    expect(proxy.connections).toBeGreaterThanOrEqual(4);
  });
});
