/**
 * One RPM/TPM budget shared by every worker in every process, in Redis.
 *
 * OpenAI limits requests and tokens per minute per organization and model
 * (../shared/openai/FACTS.md "Rate limits"). The budget is a sliding-window
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

/**
 * KEYS[1] log (zset: member "<id>|<tokens>", score ms), KEYS[2] token sum,
 * KEYS[3] limit overrides (hash rpm/tpm).
 * ARGV: rpm, tpm, windowMs, strict (1|0), then one (id, tokens) pair per
 * request, oldest first. Grants, in that order, every request that fits
 * (first fit), or with strict = 1 only the prefix that fits.
 * Returns {waitMs until the next grant can happen (0 when nothing is left
 * waiting), effective tpm, then the 1-based positions of the granted
 * requests, and negated those of requests larger than the whole window}.
 */
const RESERVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rpm = tonumber(ARGV[1])
local tpm = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local o_rpm = tonumber(redis.call('HGET', KEYS[3], 'rpm') or '')
local o_tpm = tonumber(redis.call('HGET', KEYS[3], 'tpm') or '')
if o_rpm and o_rpm < rpm then rpm = o_rpm end
if o_tpm and o_tpm < tpm then tpm = o_tpm end
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - window)
local sum = tonumber(redis.call('GET', KEYS[2]) or '0')
for _, m in ipairs(expired) do
  sum = sum - tonumber(string.match(m, '|(%d+)$'))
end
if #expired > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window) end
if sum < 0 then sum = 0 end
local count = redis.call('ZCARD', KEYS[1])
local strict = ARGV[4] == '1'
local result = {0, tpm}
-- The request to compute the wait for: the first refused when strict,
-- else the smallest refused (the first that can use freed capacity).
local tokens = nil
for i = 5, #ARGV, 2 do
  local t = tonumber(ARGV[i + 1])
  local pos = (i - 3) / 2
  if t > tpm then
    table.insert(result, -pos)
  elseif count + 1 <= rpm and sum + t <= tpm then
    redis.call('ZADD', KEYS[1], now, ARGV[i] .. '|' .. ARGV[i + 1])
    sum = sum + t
    count = count + 1
    table.insert(result, pos)
  else
    if not tokens or (not strict and t < tokens) then tokens = t end
    if strict or count + 1 > rpm then break end
  end
end
redis.call('SET', KEYS[2], sum)
redis.call('PEXPIRE', KEYS[2], window * 2)
redis.call('PEXPIRE', KEYS[1], window * 2)
if not tokens then return result end
-- Walk the log from the oldest entry until enough leaves the window for the next request.
local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local freed = 0
local n = 0
for i = 1, #entries, 2 do
  freed = freed + tonumber(string.match(entries[i], '|(%d+)$'))
  n = n + 1
  if sum - freed + tokens <= tpm and count - n + 1 <= rpm then
    result[1] = math.max(1, tonumber(entries[i + 1]) + window - now + 1)
    return result
  end
end
result[1] = window
return result
`;

/**
 * KEYS as RESERVE; ARGV: member, backdateMs. Moves a reservation to when
 * the API counted it, at the latest: `now − backdateMs`, where the caller
 * passes the server's own processing time (`openai-processing-ms`), so the
 * budget frees its tokens no earlier than the API does (the API counts a
 * request on arrival, after it was reserved and before it answered). Never
 * moves it earlier than it was.
 */
const RESTAMP = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score then return 0 end
local stamp = now - tonumber(ARGV[2])
if stamp <= tonumber(score) then return 0 end
return redis.call('ZADD', KEYS[1], 'XX', stamp, ARGV[1])
`;

/** KEYS as RESERVE; ARGV: member, tokens. Returns a reservation the API did not count (a 429). */
const RELEASE = `
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  local sum = redis.call('DECRBY', KEYS[2], tonumber(ARGV[2]))
  if sum < 0 then redis.call('SET', KEYS[2], 0) end
  return 1
end
return 0
`;

/** KEYS as RESERVE; ARGV: id, tokens, ttlMs. Records use the budget did not grant (external use, 429s). */
const RECORD_EXTERNAL = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[4])
-- Stamped so that it leaves the window after ttlMs.
local score = now - window + tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], score, ARGV[1] .. '|' .. ARGV[2])
redis.call('INCRBY', KEYS[2], tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], window * 2)
redis.call('PEXPIRE', KEYS[2], window * 2)
return 1
`;

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
   * @param name budget name, e.g. the model: one budget per organization and model (FACTS.md).
   */
  constructor(redis: Redis, prefix: string, name: string, limits: BudgetLimits) {
    this.redis = redis;
    this.key = `${prefix}:budget:${name}`;
    this.limits = limits;
  }

  private keys(): [string, string, string] {
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
  async tryReserveMany(tokens: readonly number[], strict = false): Promise<{ granted: Map<number, string>; tooLarge: number[]; waitMs: number; effectiveTpm: number }> {
    const ids = tokens.map(() => randomUUID());
    const [waitMs, effectiveTpm, ...positions] = (await this.redis.eval(
      RESERVE, 3, ...this.keys(), String(this.limits.rpm), String(this.limits.tpm), String(this.limits.windowMs), strict ? '1' : '0',
      ...tokens.flatMap((t, i) => [ids[i]!, String(t)]),
    )) as number[];
    return {
      granted: new Map(positions.filter((p) => p > 0).map((p) => [p - 1, ids[p - 1]!])),
      tooLarge: positions.filter((p) => p < 0).map((p) => -p - 1),
      waitMs: waitMs!,
      effectiveTpm: effectiveTpm!,
    };
  }

  private overBudget(tokens: number, tpm: number | undefined): OverBudgetError {
    return new OverBudgetError(`a request of ${tokens} tokens exceeds the whole budget of ${tpm ?? this.limits.tpm} tokens per window`);
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
          r = await this.tryReserveMany(batch.map((w) => w.tokens), strict);
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
   * (see RESTAMP): call it when the response arrives.
   * @param serverMs the server's processing time, ms (`openai-processing-ms`);
   *   0 (unknown) stamps the reservation at the response.
   */
  async restamp(g: Granted, serverMs = 0): Promise<void> {
    const backdate = Number.isFinite(serverMs) && serverMs > 0 ? Math.floor(serverMs) : 0;
    await this.redis.eval(RESTAMP, 3, ...this.keys(), `${g.id}|${g.tokens}`, String(backdate));
  }

  /** Gives back a reservation the API did not count (it answered 429). */
  async release(g: Granted): Promise<void> {
    await this.redis.eval(RELEASE, 3, ...this.keys(), `${g.id}|${g.tokens}`, String(g.tokens));
  }

  /** Records `tokens` of use this budget did not grant, expiring after `ttlMs`. */
  async recordExternal(tokens: number, ttlMs: number): Promise<void> {
    if (tokens <= 0) return;
    const ttl = Math.max(1, Math.min(ttlMs, this.limits.windowMs));
    await this.redis.eval(RECORD_EXTERNAL, 3, ...this.keys(), `ext-${randomUUID()}`, String(Math.ceil(tokens)), String(ttl), String(this.limits.windowMs));
  }

  /** Lowers the limits (never raises them) to what the API reports, for a while. */
  async adoptLimits(limits: { rpm?: number; tpm?: number }): Promise<void> {
    const [, , k] = this.keys();
    const fields: string[] = [];
    if (limits.rpm && limits.rpm < this.limits.rpm) fields.push('rpm', String(limits.rpm));
    if (limits.tpm && limits.tpm < this.limits.tpm) fields.push('tpm', String(limits.tpm));
    if (!fields.length) return;
    await this.redis.multi().hset(k, ...fields).pexpire(k, this.limits.windowMs * 10).exec();
  }

  /** Tokens and requests reserved in the current window (for status and tests). */
  async usage(): Promise<{ requests: number; tokens: number }> {
    const [log, sum] = this.keys();
    const [requests, tokens] = await Promise.all([this.redis.zcard(log), this.redis.get(sum)]);
    return { requests, tokens: Number(tokens ?? 0) };
  }
}
