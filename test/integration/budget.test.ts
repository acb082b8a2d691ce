/**
 * The shared budget against real Redis: the rolling window is exact (no
 * boundary burst), waits are computed from the oldest reservations, limits
 * learned from headers only lower the budget, and concurrent reservers
 * never exceed it.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OverBudgetError } from '../../src/errors/index.ts';
import { SharedBudget } from '../../src/ratelimit/budget.ts';
import { isolate, requireRedis, TEST_REDIS_URL, type TestIsolation } from '../helpers/services.ts';

let redis: Redis;
let iso: TestIsolation;

beforeAll(async () => {
  await requireRedis();
  iso = isolate({}, { postgres: false });
  redis = new Redis(TEST_REDIS_URL);
});

afterAll(async () => {
  redis?.disconnect();
  await iso?.cleanup();
});

describe('SharedBudget', () => {
  it('grants up to the token limit, then names the wait', async () => {
    const b = new SharedBudget(redis, iso.prefix, 'tpm', { rpm: 100, tpm: 1000, windowMs: 1000 });
    expect(await b.tryReserve(600)).toMatchObject({ granted: true, waitMs: 0, id: expect.any(String) });
    expect(await b.tryReserve(400)).toMatchObject({ granted: true, waitMs: 0 });
    const refused = await b.tryReserve(1);
    expect(refused.granted).toBe(false);
    expect(refused.waitMs).toBeGreaterThan(900);
    expect(refused.waitMs).toBeLessThanOrEqual(1001);
    expect(await b.usage()).toEqual({ requests: 2, tokens: 1000 });
  });

  it('limits requests per window', async () => {
    const b = new SharedBudget(redis, iso.prefix, 'rpm', { rpm: 3, tpm: 1_000_000, windowMs: 500 });
    for (let i = 0; i < 3; i++) expect((await b.tryReserve(1)).granted).toBe(true);
    expect((await b.tryReserve(1)).granted).toBe(false);
    await new Promise((r) => setTimeout(r, 520));
    expect((await b.tryReserve(1)).granted).toBe(true);
  });

  it('refuses a request larger than the whole window', async () => {
    const b = new SharedBudget(redis, iso.prefix, 'big', { rpm: 10, tpm: 100, windowMs: 1000 });
    await expect(b.tryReserve(101)).rejects.toThrow(OverBudgetError);
  });

  it('keeps every rolling window within the limit under 20 concurrent reservers', async () => {
    const limits = { rpm: 1000, tpm: 5000, windowMs: 1000 };
    const b = new SharedBudget(redis, iso.prefix, 'race', limits);
    const grants: Array<{ at: number; tokens: number }> = [];
    const until = Date.now() + 3000;
    await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        while (Date.now() < until) {
          const tokens = 100 + ((i * 37) % 300);
          const g = await b.reserve(tokens);
          // The grant's time on the Redis clock, which the budget (and the window) is defined on:
          // a client-side Date.now() after the await would add event-loop lag under load.
          const at = await redis.zscore(`${b.key}:log`, `${g.id}|${tokens}`);
          expect(at, 'a grant left the log before it could be read').not.toBeNull();
          grants.push({ at: Number(at), tokens });
        }
      }),
    );
    grants.sort((x, y) => x.at - y.at);
    let peak = 0;
    for (let i = 0, j = 0, sum = 0; i < grants.length; i++) {
      sum += grants[i]!.tokens;
      while (grants[j]!.at <= grants[i]!.at - limits.windowMs) sum -= grants[j++]!.tokens;
      peak = Math.max(peak, sum);
    }
    expect(peak).toBeLessThanOrEqual(limits.tpm);
    // …and the budget was used, not starved: well over two windows' worth in 3 s.
    expect(grants.reduce((s, g) => s + g.tokens, 0)).toBeGreaterThan(limits.tpm * 2.5);
  });

  it('grants waiting requests first fit, several per script run, and lets none starve', async () => {
    /** Counts the RESERVE scripts this process runs (instrumentation only: every call still goes to Redis). */
    class Counted extends SharedBudget {
      calls = 0;
      override tryReserveMany(tokens: readonly number[], strict?: boolean) {
        this.calls++;
        return super.tryReserveMany(tokens, strict);
      }
    }
    const b = new Counted(redis, iso.prefix, 'line', { rpm: 1000, tpm: 1000, windowMs: 300 });
    // Ten grants 20 ms apart fill the window, so it frees 100 tokens at a time.
    for (let i = 0; i < 10; i++) {
      await b.reserve(100);
      await new Promise((r) => setTimeout(r, 20));
    }
    b.calls = 0;
    const order: number[] = [];
    // A 500-token request first, then 30 of 100.
    const grants = await Promise.all(
      [500, ...Array.from({ length: 30 }, () => 100)].map((tokens, i) =>
        b.reserve(tokens).then((g) => {
          order.push(i);
          return g;
        }),
      ),
    );
    expect(new Set(grants.map((g) => g.id)).size).toBe(31);
    // First fit: 100-token requests used the capacity the 500 could not use yet…
    expect(order.indexOf(0)).toBeGreaterThan(0);
    // …and once it had waited a whole window nothing overtook it: it did not wait for all 30.
    expect(order.indexOf(0)).toBeLessThan(30);
    // Fewer script runs than requests: a run grants every waiter that fits.
    // (Before the line, each of the 31 waiters ran the script at every freed grant.)
    expect(b.calls).toBeLessThan(31);
  });

  it('rejects a waiter whose signal aborts, and lets the rest through', async () => {
    const b = new SharedBudget(redis, iso.prefix, 'abort', { rpm: 1000, tpm: 300, windowMs: 300 });
    await b.reserve(300);
    const ac = new AbortController();
    const first = b.reserve(200, ac.signal);
    const second = b.reserve(100);
    ac.abort(new Error('job cancelled'));
    await expect(first).rejects.toThrow('job cancelled');
    expect((await second).tokens).toBe(100);
    await expect(b.reserve(301)).rejects.toThrow(OverBudgetError);
  });

  it('adopts a lower limit from the API, never a higher one', async () => {
    const b = new SharedBudget(redis, iso.prefix, 'adopt', { rpm: 100, tpm: 1000, windowMs: 1000 });
    await b.adoptLimits({ tpm: 5000 });
    expect((await b.tryReserve(1000)).granted).toBe(true);
    const c = new SharedBudget(redis, iso.prefix, 'adopt2', { rpm: 100, tpm: 1000, windowMs: 1000 });
    await c.adoptLimits({ tpm: 500 });
    expect((await c.tryReserve(400)).granted).toBe(true);
    expect((await c.tryReserve(200)).granted).toBe(false);
    await expect(c.tryReserve(600)).rejects.toThrow(/600 tokens exceeds the whole budget of 500 tokens/);
  });

  it('re-stamps a reservation when its response arrives, and releases one the API refused', async () => {
    const b = new SharedBudget(redis, iso.prefix, 'stamp', { rpm: 100, tpm: 1000, windowMs: 300 });
    const g = await b.reserve(1000);
    await new Promise((r) => setTimeout(r, 200));
    await b.restamp(g); // the response arrived 200 ms after the reservation; processing time unknown
    await new Promise((r) => setTimeout(r, 150));
    expect((await b.tryReserve(1)).granted).toBe(false); // 350 ms after reserving, 150 ms after the response
    await new Promise((r) => setTimeout(r, 200));
    const again = await b.reserve(1000);
    await b.release(again); // a 429: the API did not count it
    expect(await b.usage()).toEqual({ requests: 0, tokens: 0 });
    expect((await b.tryReserve(1000)).granted).toBe(true);
  });

  it('re-stamps at the response minus the server processing time, never earlier than the reservation', async () => {
    const score = async (b: SharedBudget, g: { id: string; tokens: number }) =>
      Number(await redis.zscore(`${b.key}:log`, `${g.id}|${g.tokens}`));
    const b = new SharedBudget(redis, iso.prefix, 'backdate', { rpm: 100, tpm: 1000, windowMs: 10_000 });
    const g = await b.reserve(10);
    const reserved = await score(b, g);
    await new Promise((r) => setTimeout(r, 300));
    await b.restamp(g, 200); // answered 300 ms later after 200 ms of processing: counted ~100 ms after the reservation
    const moved = await score(b, g);
    expect(moved - reserved).toBeGreaterThanOrEqual(80);
    expect(moved - reserved).toBeLessThan(250);
    await b.restamp(g, 5000); // a processing time longer than the wait: stays where it is
    expect(await score(b, g)).toBe(moved);
  });

  it('counts external use until it expires', async () => {
    const b = new SharedBudget(redis, iso.prefix, 'ext', { rpm: 100, tpm: 1000, windowMs: 1000 });
    await b.recordExternal(900, 200);
    expect((await b.tryReserve(200)).granted).toBe(false);
    await new Promise((r) => setTimeout(r, 230));
    expect((await b.tryReserve(200)).granted).toBe(true);
  });
});
