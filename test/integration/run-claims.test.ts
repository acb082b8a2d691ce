/**
 * URL claims within a run (src/runs/tracker.ts), on the machine's Redis: a
 * process remembers which job owns a URL and does not ask Redis again when
 * another job meets it (a crawl re-claims every page's links), while the
 * owner of a URL still gets it back on a retry, in this process or another.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RunTracker } from '../../src/runs/tracker.ts';
import { requireRedis, TEST_REDIS_URL } from '../helpers/services.ts';

let redis: Redis;
const prefix = `test-claims-${randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  await requireRedis();
  redis = new Redis(TEST_REDIS_URL);
});

afterAll(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

/** The URLs each claim-urls call sent to Redis while `fn` ran (read with MONITOR). */
async function sentUrls(fn: () => Promise<unknown>): Promise<string[][]> {
  const sent: string[][] = [];
  const monitor = await redis.duplicate().monitor();
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (args[0]?.toLowerCase() === 'evalsha' && args[2] === '2') sent.push(args.slice(8));
  });
  await new Promise((r) => setTimeout(r, 50));
  await fn();
  await new Promise((r) => setTimeout(r, 100));
  monitor.disconnect();
  return sent;
}

it('asks Redis only about URLs whose owner it does not know to be another job', async () => {
  const here = new RunTracker(redis, prefix);
  expect(await here.claimUrls('r1', 'job-a', 100, ['u1', 'u2'])).toEqual({ claimed: ['u1', 'u2'], refused: 0 });
  expect(await here.claimUrls('r1', 'job-b', 100, ['u1', 'u2', 'u3'])).toEqual({ claimed: ['u3'], refused: 0 });
  // job-b meets u1 and u2 again: answered from memory, only u4 goes to Redis.
  const sent = await sentUrls(async () => {
    expect(await here.claimUrls('r1', 'job-b', 100, ['u1', 'u2', 'u4'])).toEqual({ claimed: ['u4'], refused: 0 });
  });
  expect(sent).toEqual([['u4']]);
  // The owner's retry, in this process and in another, gets its URLs again.
  expect(await here.claimUrls('r1', 'job-a', 100, ['u1', 'u2'])).toEqual({ claimed: ['u1', 'u2'], refused: 0 });
  const there = new RunTracker(redis, prefix);
  expect(await there.claimUrls('r1', 'job-c', 100, ['u1'])).toEqual({ claimed: [], refused: 0 });
  expect(await there.claimUrls('r1', 'job-a', 100, ['u1', 'u2'])).toEqual({ claimed: ['u1', 'u2'], refused: 0 });
  // Another run starts from nothing.
  expect(await here.claimUrls('r2', 'job-b', 100, ['u1'])).toEqual({ claimed: ['u1'], refused: 0 });
});

it('counts the URLs the page limit refuses', async () => {
  const tracker = new RunTracker(redis, prefix);
  expect(await tracker.claimUrls('r3', 'job-a', 1, ['p1'])).toEqual({ claimed: ['p1'], refused: 0 });
  expect(await tracker.claimUrls('r3', 'job-b', 1, ['p1', 'p2'])).toEqual({ claimed: [], refused: 1 });
  expect(await tracker.claimUrls('r3', 'job-b', 1, ['p1', 'p2'])).toEqual({ claimed: [], refused: 1 });
  expect(await tracker.refusedPages('r3')).toBe(2);
});
