/**
 * One RPM/TPM budget shared by every worker in every process, in Redis.
 *
 * OpenAI limits requests and tokens per minute per organization and model
 * (docs/openai-facts.md, "Rate limits"). The budget is a sliding-window
 * log: each request reserves its token count before it is sent, as a member
 * of a sorted set scored by the Redis clock; a reservation is granted only if
 * the requests and tokens reserved in the last `windowMs` stay within the
 * limits, otherwise the caller learns how long until enough old reservations
 * leave the window. An exact rolling window, because a fixed window (what
 * Bottleneck's and rate-limiter-flexible's Redis stores keep) allows twice
 * the limit across a window boundary, which OpenAI answers with 429s.
 *
 * Responses recalibrate it: when OpenAI's `x-ratelimit-remaining-*`
 * headers show more use than this budget knows of (another client of the
 * same organization), the difference is recorded as external use for the
 * reset time the headers give; a lower `x-ratelimit-limit-*` than configured
 * replaces the configured limit.
 */
import { randomUUID } from 'node:crypto';
import { OverBudgetError } from '../errors/index.ts';
import type { Redis } from '../queue/redis.ts';
import { defineScript } from '../queue/scripts.ts';

/** The budget's keys: the log, its token sum, limit overrides (see `lua/reserve-3.lua`). */
type BudgetKeys = [log: string, sum: string, limits: string];

export interface BudgetLimits {
  /** Requests per window. */
  rpm: number;
  /** Tokens per window. */
  tpm: number;
  /** Window length, ms (OpenAI: 60,000). */
  windowMs: number;
}

export interface Reservation {
  granted: boolean;
  /** When not granted: ms until a retry can succeed. */
  waitMs: number;
  /** When granted: the reservation, for `restamp` and `release`. */
  id?: string;
}

/** A granted reservation. */
export interface Granted {
  id: string;
  tokens: number;
  /** ms spent waiting for it. */
  waitedMs: number;
}

/** The budget's scripts; each file's header says what it reads and returns. */
const reserveScript = defineScript<number[], BudgetKeys>(
  'sluiceBudgetReserve',
  new URL('./lua/reserve-3.lua', import.meta.url),
);
const restampScript = defineScript<number, [log: string]>(
  'sluiceBudgetRestamp',
  new URL('./lua/restamp-1.lua', import.meta.url),
);
const releaseScript = defineScript<number, [log: string, sum: string]>(
  'sluiceBudgetRelease',
  new URL('./lua/release-2.lua', import.meta.url),
);
const recordExternalScript = defineScript<number, [log: string, sum: string]>(
  'sluiceBudgetRecordExternal',
  new URL('./lua/record-external-2.lua', import.meta.url),
);

/** Upper bound of the random delay added to a retry, ms: spreads processes waiting for the same moment. */
const RETRY_JITTER_MS = 10;
/** Waiters handed to one script run: bounds the script's work and its reply. */
const MAX_BATCH = 64;

/** A `reserve` call waiting in its process's line. */
interface Waiter {
  tokens: number;
  started: number;
  resolve: (g: Granted) => void;
  reject: (err: unknown) => void;
  /** Settled (granted, refused or aborted): skipped from then on. */
  done: boolean;
}

/** Settles a waiter once. */
function settle(w: Waiter, fn: () => void): void {
  if (w.done) return;
  w.done = true;
  fn();
}

export class SharedBudget {
  readonly redis: Redis;
  readonly key: string;
  readonly limits: BudgetLimits;

  /**
   * @param name budget name, e.g. the model: one budget per organization and model (docs/openai-facts.md, "Rate limits").
   */
  constructor(redis: Redis, prefix: string, name: string, limits: BudgetLimits) {
    this.redis = redis;
    this.key = `${prefix}:budget:${name}`;
    this.limits = limits;
  }

  private keys(): BudgetKeys {
    return [`${this.key}:log`, `${this.key}:sum`, `${this.key}:limits`];
  }

  /** Tries once to reserve `tokens` for one request. */
  async tryReserve(tokens: number): Promise<Reservation> {
    const r = await this.tryReserveMany([tokens]);
    if (r.tooLarge.length) throw this.overBudget(tokens, r.effectiveTpm);
    const id = r.granted.get(0);
    return id ? { granted: true, waitMs: 0, id } : { granted: false, waitMs: r.waitMs };
  }

  /**
   * Tries once to reserve several requests in one script run, oldest first:
   * grants every request that fits the window (first fit), or with
   * `strict` only the prefix that fits, so none overtakes the first.
   * @returns `granted`, position in `tokens` → reservation id; `tooLarge`,
   *   positions of requests larger than the whole window (never grantable);
   *   `waitMs`, ms until the next grant can happen (with `strict`, of the
   *   first refused request; else of the smallest); the token limit in force
   */
  async tryReserveMany(
    tokens: readonly number[],
    strict = false,
  ): Promise<{ granted: Map<number, string>; tooLarge: number[]; waitMs: number; effectiveTpm: number }> {
    const ids = tokens.map(() => randomUUID());
    const [waitMs, effectiveTpm, ...positions] = await reserveScript.run(this.redis, this.keys(), [
      String(this.limits.rpm),
      String(this.limits.tpm),
      String(this.limits.windowMs),
      strict ? '1' : '0',
      ...tokens.flatMap((t, i) => [ids[i]!, String(t)]),
    ]);
    return {
      granted: new Map(positions.filter((p) => p > 0).map((p) => [p - 1, ids[p - 1]!])),
      tooLarge: positions.filter((p) => p < 0).map((p) => -p - 1),
      waitMs: waitMs!,
      effectiveTpm: effectiveTpm!,
    };
  }

  private overBudget(tokens: number, tpm: number | undefined): OverBudgetError {
    return new OverBudgetError(
      `a request of ${tokens} tokens exceeds the whole budget of ${tpm ?? this.limits.tpm} tokens per window`,
    );
  }

  /**
   * Waits until `tokens` are reserved. Requests of one process are granted
   * by one reservation loop (`pump`): oldest first, first fit.
   * @throws OverBudgetError when `tokens` exceeds the per-window token limit.
   * @throws the signal's reason when `signal` aborts while waiting.
   */
  reserve(tokens: number, signal?: AbortSignal): Promise<Granted> {
    return new Promise<Granted>((resolve, reject) => {
      signal?.throwIfAborted();
      const waiter: Waiter = { tokens, started: Date.now(), resolve, reject, done: false };
      signal?.addEventListener('abort', () => settle(waiter, () => reject(signal.reason)), { once: true });
      this.waiting.push(waiter);
      this.arrivals++;
      // Waiters that arrive in the same tick share one script run: the loop
      // starts, or wakes from its sleep, in a microtask.
      queueMicrotask(() => {
        this.wake?.();
        void this.pump();
      });
    });
  }

  /**
   * The process's reservation loop. Without it, every waiting request (up to
   * EMBED_CONCURRENCY per process) computed the same moment when the oldest
   * reservation would leave the window, woke then and ran the script, which
   * walks the log to say how long to wait: ~1,000 scripts per freed
   * reservation, ~26,000 per bench:embed run (6 s of Redis CPU), at the
   * window boundaries, exactly when the next window's requests should go
   * out. Here one loop per process hands the first `MAX_BATCH` waiters to one
   * script run, which grants, oldest first, every one that fits (first fit:
   * capacity a large request cannot use yet goes to smaller ones rather than
   * expire unused); then the loop sleeps until the smallest refused one can
   * fit, or a new waiter arrives. One round trip grants many requests, and
   * once the oldest has waited a whole window nothing overtakes it (strict),
   * so it cannot starve.
   */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (;;) {
        this.waiting = this.waiting.filter((w) => !w.done);
        const batch = this.waiting.slice(0, MAX_BATCH);
        if (!batch.length) return;
        // A request that has waited a whole window is not overtaken any more.
        const strict = Date.now() - batch[0]!.started >= this.limits.windowMs;
        const arrivals = this.arrivals;
        let r: Awaited<ReturnType<SharedBudget['tryReserveMany']>>;
        try {
          r = await this.tryReserveMany(
            batch.map((w) => w.tokens),
            strict,
          );
        } catch (err) {
          for (const w of batch) settle(w, () => w.reject(err));
          continue;
        }
        for (const [i, id] of r.granted) {
          const w = batch[i]!;
          const g = { id, tokens: w.tokens, waitedMs: Date.now() - w.started };
          // Aborted while the script ran: give the reservation back.
          if (w.done) void this.release(g).catch(() => {});
          else settle(w, () => w.resolve(g));
        }
        for (const i of r.tooLarge) {
          const w = batch[i]!;
          settle(w, () => w.reject(this.overBudget(w.tokens, r.effectiveTpm)));
        }
        // Nothing left to wait for, or someone arrived meanwhile who may fit now.
        if (r.waitMs === 0 || this.arrivals !== arrivals) continue;
        // Jitter spreads the processes whose loops wait for the same moment.
        // A new waiter cuts the sleep short: it may fit where the refused one did not.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => resolve(), r.waitMs + Math.floor(Math.random() * RETRY_JITTER_MS));
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
      }
    } finally {
      this.pumping = false;
    }
  }

  private waiting: Waiter[] = [];
  private pumping = false;
  /** `reserve` calls so far: tells the loop whether anyone arrived during a script run. */
  private arrivals = 0;
  /** Ends the loop's sleep early (set while it sleeps). */
  private wake: (() => void) | undefined;

  /**
   * Moves a reservation to when the API counted the request, at the latest
   * (see `lua/restamp-1.lua`): call it when the response arrives.
   * @param serverMs the server's processing time, ms (`openai-processing-ms`);
   *   0 (unknown) stamps the reservation at the response.
   */
  async restamp(g: Granted, serverMs = 0): Promise<void> {
    const backdate = Number.isFinite(serverMs) && serverMs > 0 ? Math.floor(serverMs) : 0;
    const [log] = this.keys();
    await restampScript.run(this.redis, [log], [`${g.id}|${g.tokens}`, String(backdate)]);
  }

  /** Gives back a reservation the API did not count (it answered 429). */
  async release(g: Granted): Promise<void> {
    const [log, sum] = this.keys();
    await releaseScript.run(this.redis, [log, sum], [`${g.id}|${g.tokens}`, String(g.tokens)]);
  }

  /** Records `tokens` of use this budget did not grant, expiring after `ttlMs`. */
  async recordExternal(tokens: number, ttlMs: number): Promise<void> {
    if (tokens <= 0) return;
    const ttl = Math.max(1, Math.min(ttlMs, this.limits.windowMs));
    const [log, sum] = this.keys();
    await recordExternalScript.run(
      this.redis,
      [log, sum],
      [`ext-${randomUUID()}`, String(Math.ceil(tokens)), String(ttl), String(this.limits.windowMs)],
    );
  }

  /** Lowers the limits (never raises them) to what the API reports, for a while. */
  async adoptLimits(limits: { rpm?: number; tpm?: number }): Promise<void> {
    const [, , k] = this.keys();
    const fields: string[] = [];
    if (limits.rpm && limits.rpm < this.limits.rpm) fields.push('rpm', String(limits.rpm));
    if (limits.tpm && limits.tpm < this.limits.tpm) fields.push('tpm', String(limits.tpm));
    if (!fields.length) return;
    await this.redis
      .multi()
      .hset(k, ...fields)
      .pexpire(k, this.limits.windowMs * 10)
      .exec();
  }

  /** Tokens and requests reserved in the current window (for status and tests). */
  async usage(): Promise<{ requests: number; tokens: number }> {
    const [log, sum] = this.keys();
    const [requests, tokens] = await Promise.all([this.redis.zcard(log), this.redis.get(sum)]);
    return { requests, tokens: Number(tokens ?? 0) };
  }
}
