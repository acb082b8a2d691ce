/**
 * Sluice's Lua scripts live in `.lua` files registered with ioredis
 * `defineCommand` (src/queue/scripts.ts), so after a script's first run on a
 * connection Redis gets its SHA1 (EVALSHA), not its body (EVAL). Checked
 * here through the real classes against a redis-server of this test's own:
 * INFO commandstats is server-wide, so the shared server would count other
 * test files' commands. Also checks every file's header: it lists exactly
 * the KEYS and ARGV its body reads.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HashClaims } from '../../src/embed/claims.ts';
import { SharedBudget } from '../../src/ratelimit/budget.ts';
import { ScheduleState } from '../../src/schedule/state.ts';
import { RunTracker } from '../../src/runs/tracker.ts';
import { REPO_ROOT } from '../helpers/cli.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every `.lua` file under src/ (the emulator has none). */
function luaFiles(): string[] {
  const src = path.join(REPO_ROOT, 'src');
  return readdirSync(src, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.lua'))
    .map((f) => path.join(src, f))
    .sort();
}

/** What a script reads: fixed indices, and the first index of a variable tail (`KEYS[1..]`, `ARGV[4..]`). */
interface Reads {
  keys: number[];
  keysFrom: number[];
  argv: number[];
  argvFrom: number[];
}

const sorted = (s: Iterable<number>) => [...new Set(s)].sort((a, b) => a - b);

/** Splits a script into its `--[[ … ]]` header and body, and collects what each says it reads. */
function parseScript(text: string): { header: string; declared: Reads; used: Reads; unrecognized: string[] } {
  const m = /^--\[\[\n([\s\S]*?)\n\]\]\n/.exec(text);
  if (!m) throw new Error('no --[[ … ]] header at the top of the file');
  const header = m[1]!;
  const input = header.slice(header.indexOf('Input:'), header.indexOf('Output:'));
  const declared: Reads = { keys: [], keysFrom: [], argv: [], argvFrom: [] };
  for (const [, name, n, range] of input.matchAll(/^\s*(KEYS|ARGV)\[(\d+)(\.\.)?\]\s+\S/gm)) {
    const list =
      name === 'KEYS' ? (range ? declared.keysFrom : declared.keys) : range ? declared.argvFrom : declared.argv;
    list.push(Number(n));
  }
  // The body without its comments.
  let body = text.slice(m[0].length).replace(/--[^\n]*/g, '');
  const used: Reads = { keys: [], keysFrom: [], argv: [], argvFrom: [] };
  const dynamic = { KEYS: false, ARGV: false };
  /** Removes what `re` matches from the body, handing each match's `name` (KEYS|ARGV) and `n` groups to `fn`. */
  const take = (re: RegExp, fn: (name: 'KEYS' | 'ARGV', n: number) => void) => {
    body = body.replace(re, (...args) => {
      const groups = args.at(-1) as { name: 'KEYS' | 'ARGV'; n?: string };
      fn(groups.name, Number(groups.n ?? 1));
      return ' ';
    });
  };
  // KEYS[2]
  take(/\b(?<name>KEYS|ARGV)\[(?<n>\d+)\]/g, (name, n) => (name === 'KEYS' ? used.keys : used.argv).push(n));
  // for _, k in ipairs(KEYS)
  take(/\bipairs\((?<name>KEYS|ARGV)\)/g, (name, n) => (name === 'KEYS' ? used.keysFrom : used.argvFrom).push(n));
  // for i = 5, #ARGV, 2
  take(/\bfor\s+\w+\s*=\s*(?<n>\d+)\s*,\s*#(?<name>KEYS|ARGV)\b/g, (name, n) =>
    (name === 'KEYS' ? used.keysFrom : used.argvFrom).push(n),
  );
  // ARGV[i], ARGV[i + 1]: only within such a loop
  take(/\b(?<name>KEYS|ARGV)\[[a-z_][^\]]*\]/g, (name) => (dynamic[name] = true));
  const unrecognized = [...body.matchAll(/\b(KEYS|ARGV)\b/g)].map((x) => x[0]);
  if (dynamic.KEYS && !used.keysFrom.length) unrecognized.push('KEYS[<expr>] outside a loop over KEYS');
  if (dynamic.ARGV && !used.argvFrom.length) unrecognized.push('ARGV[<expr>] outside a loop over ARGV');
  const norm = (r: Reads): Reads => ({
    keys: sorted(r.keys),
    keysFrom: sorted(r.keysFrom),
    argv: sorted(r.argv),
    argvFrom: sorted(r.argvFrom),
  });
  return { header, declared: norm(declared), used: norm(used), unrecognized };
}

describe('Lua script files', () => {
  const files = luaFiles();

  it('exist (ratelimit, embed, runs, schedule)', () => {
    expect(files.map((f) => path.relative(REPO_ROOT, f))).toEqual([
      'src/embed/lua/claim.lua',
      'src/embed/lua/release.lua',
      'src/embed/lua/renew.lua',
      'src/ratelimit/lua/record-external-2.lua',
      'src/ratelimit/lua/release-2.lua',
      'src/ratelimit/lua/reserve-3.lua',
      'src/ratelimit/lua/restamp-1.lua',
      'src/runs/lua/claim-urls-2.lua',
      'src/schedule/lua/claim-tick-3.lua',
      'src/schedule/lua/finish-tick-1.lua',
    ]);
  });

  for (const file of files) {
    const rel = path.relative(REPO_ROOT, file);
    it(`${rel}: its header lists exactly the KEYS and ARGV the script reads`, () => {
      const { header, declared, used, unrecognized } = parseScript(readFileSync(file, 'utf8'));
      expect(header).toMatch(/\n\s*Input:\n[\s\S]*\n\s*Output:\n\s*\S/);
      expect(unrecognized, 'uses of KEYS/ARGV the check cannot read').toEqual([]);
      expect(declared, `header of ${rel} vs. its body`).toEqual(used);
      // The file name gives the key count (BullMQ: name-numKeys.lua); none for any number of keys.
      const n = /-(\d+)\.lua$/.exec(file);
      if (n) {
        expect(used.keysFrom).toEqual([]);
        expect(used.keys).toEqual(Array.from({ length: Number(n[1]) }, (_, i) => i + 1));
      } else {
        expect(used.keysFrom).toEqual([1]);
        expect(used.keys).toEqual([]);
        expect(header).toMatch(/variable number of keys/);
      }
    });
  }

  it('the check catches a header that misses an ARGV the body reads', () => {
    const text = readFileSync(path.join(REPO_ROOT, 'src/ratelimit/lua/record-external-2.lua'), 'utf8');
    const { declared, used } = parseScript(text.replace(/^\s*ARGV\[4\].*\n/m, ''));
    expect(declared.argv).toEqual([1, 2, 3]);
    expect(used.argv).toEqual([1, 2, 3, 4]);
  });
});

/** A free TCP port on 127.0.0.1. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** INFO commandstats → command → calls. */
async function commandCalls(admin: Redis): Promise<Record<string, number>> {
  const info = await admin.info('commandstats');
  return Object.fromEntries(
    [...info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)].map(([, name, calls]) => [name!, Number(calls)]),
  );
}

describe('scripts run as EVALSHA after their first call (a redis-server of its own)', () => {
  let server: ChildProcess;
  let redis: Redis;
  let admin: Redis;

  beforeAll(async () => {
    const port = await freePort();
    server = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    const spawned = new Promise((_, reject) =>
      server.once('error', (err) => reject(new Error(`cannot start redis-server: ${err.message}`))),
    );
    spawned.catch(() => {});
    const url = `redis://127.0.0.1:${port}`;
    for (let i = 0; ; i++) {
      const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => {});
      try {
        await Promise.race([probe.connect().then(() => probe.ping()), spawned]);
        break;
      } catch (err) {
        if (i >= 50 || server.exitCode !== null) throw err;
        await sleep(100);
      } finally {
        probe.disconnect();
      }
    }
    redis = new Redis(url);
    admin = new Redis(url);
  });

  afterAll(async () => {
    redis?.disconnect();
    admin?.disconnect();
    if (server && server.exitCode === null) {
      const exited = new Promise((resolve) => server.once('exit', resolve));
      server.kill('SIGTERM');
      await exited;
    }
  });

  /** Runs every script once or more through the classes that use them; returns how many script calls it made, at least. */
  async function round(n: number): Promise<number> {
    let calls = 0;
    const prefix = `scripts-${n}`;

    const budget = new SharedBudget(redis, prefix, 'm', { rpm: 100, tpm: 1000, windowMs: 1000 });
    expect((await budget.tryReserve(100)).granted).toBe(true); // reserve
    const g = await budget.reserve(200); // reserve, through the process's line
    await budget.restamp(g, 5); // restamp
    await budget.release(g); // release
    await budget.recordExternal(50, 500); // record-external
    calls += 5;
    expect(await budget.usage()).toEqual({ requests: 2, tokens: 150 });
    await expect(budget.tryReserve(1000)).resolves.toMatchObject({ granted: false }); // reserve
    calls += 1;

    const claims = new HashClaims(redis, prefix, 300);
    expect(await claims.claim('s', 'a', ['h1', 'h2'])).toEqual({ mine: ['h1', 'h2'], others: [] }); // claim
    expect(await claims.claim('s', 'b', ['h1', 'h3'])).toEqual({ mine: ['h3'], others: ['h1'] }); // claim
    const lease = claims.hold('s', 'a', ['h1', 'h2']); // claim, every 100 ms: twice, or once on a slow machine
    await sleep(250);
    lease.stop();
    expect(await redis.pttl(`${prefix}:claim:s:h1`)).toBeGreaterThan(100); // renewed
    await claims.release('s', 'a', ['h1', 'h2', 'h3']); // release (h3 is b's: kept)
    expect(await redis.exists(`${prefix}:claim:s:h1`, `${prefix}:claim:s:h2`, `${prefix}:claim:s:h3`)).toBe(1);
    calls += 2 + 1 + 1;

    const runs = new RunTracker(redis, prefix);
    expect(await runs.claimUrls('r', 'o', 2, ['u1', 'u2', 'u3'])).toEqual({ claimed: ['u1', 'u2'], refused: 1 }); // claim-urls
    expect(await runs.claimUrls('r', 'o', 2, ['u2'])).toEqual({ claimed: ['u2'], refused: 0 }); // claim-urls
    calls += 2;

    const schedules = new ScheduleState(redis, prefix);
    expect(await schedules.claim('s', 't1', 'run-1', undefined)).toEqual({ result: 'started', runId: 'run-1' }); // claim-tick
    expect(await schedules.claim('s', 't2', 'run-2', undefined)).toEqual({ result: 'changed', runId: 'run-1' }); // claim-tick
    expect(await schedules.claim('s', 't1', 'run-x', 'run-1')).toEqual({ result: 'resume', runId: 'run-1' }); // claim-tick
    expect(await schedules.finish('s', { runId: 'run-1', tickId: 't1', firedAt: 10 }, 'succeeded')).toBe(true); // finish-tick
    expect(await schedules.finish('s', { runId: 'run-0', tickId: 't0', firedAt: 5 }, 'failed')).toBe(false); // finish-tick
    expect(await schedules.status('s')).toMatchObject({ lastRun: 'run-1', lastOutcome: 'succeeded' });
    calls += 5;
    return calls;
  }

  it('runs every script, then sends no EVAL, only EVALSHA', async () => {
    await round(1);
    // Every script file ran (its SHA1 is in the server's script cache).
    const shas = luaFiles().map((f) => createHash('sha1').update(readFileSync(f, 'utf8')).digest('hex'));
    expect(await admin.script('EXISTS', ...shas)).toEqual(shas.map(() => 1));

    await admin.config('RESETSTAT');
    const calls = await round(2);
    const stats = await commandCalls(admin);
    console.info(
      `second round: cmdstat_eval calls=${stats.eval ?? 0}, cmdstat_evalsha calls=${stats.evalsha ?? 0} (${calls}+ script calls)`,
    );
    expect(stats.eval ?? 0).toBe(0);
    expect(stats.evalsha).toBeGreaterThanOrEqual(calls);
  });

  it('after SCRIPT FLUSH (as after a Redis restart) each script is sent again once, and works', async () => {
    await admin.script('FLUSH');
    await admin.config('RESETSTAT');
    await round(3);
    const stats = await commandCalls(admin);
    console.info(
      `after SCRIPT FLUSH: cmdstat_eval calls=${stats.eval ?? 0}, cmdstat_evalsha calls=${stats.evalsha ?? 0}`,
    );
    // One NOSCRIPT, then one EVAL, per script.
    expect(stats.eval).toBe(luaFiles().length);
  });
});
