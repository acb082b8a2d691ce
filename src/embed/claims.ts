/**
 * Per-hash claims in Redis, so that two embed jobs racing on one chunk hash
 * (the same text in two documents, runs or collections) send it to OpenAI
 * once: a job embeds only the hashes it claimed; for hashes another job
 * holds, it waits until they are embedded or the claim lapses (its owner
 * died), then takes them over. The unique key in Postgres stays the final
 * guard; claims only keep the money from being spent twice.
 */
import type { Redis } from '../queue/redis.ts';

/**
 * KEYS: claim keys. ARGV[1] owner, ARGV[2] ttl ms.
 * Returns 1/0 per key: claimed by (or already owned by) this owner.
 */
const CLAIM = `
local out = {}
for i, k in ipairs(KEYS) do
  if redis.call('SET', k, ARGV[1], 'NX', 'PX', ARGV[2]) then
    out[i] = 1
  elseif redis.call('GET', k) == ARGV[1] then
    redis.call('PEXPIRE', k, ARGV[2])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
`;

/** KEYS: claim keys; ARGV[1] owner. Deletes the keys this owner holds. */
const RELEASE = `
local n = 0
for _, k in ipairs(KEYS) do
  if redis.call('GET', k) == ARGV[1] then n = n + redis.call('DEL', k) end
end
return n
`;

export class HashClaims {
  readonly redis: Redis;
  readonly prefix: string;
  /** How long a claim holds without its owner, ms. */
  readonly ttlMs: number;

  constructor(redis: Redis, prefix: string, ttlMs = 5 * 60_000) {
    this.redis = redis;
    this.prefix = prefix;
    this.ttlMs = ttlMs;
  }

  private key(scope: string, hash: string): string {
    return `${this.prefix}:claim:${scope}:${hash}`;
  }

  /**
   * Claims `hashes` for `owner` within `scope` (model and dimensions).
   * @returns the hashes this owner holds; the rest are held by others.
   */
  async claim(scope: string, owner: string, hashes: string[]): Promise<{ mine: string[]; others: string[] }> {
    if (!hashes.length) return { mine: [], others: [] };
    const result = (await this.redis.eval(CLAIM, hashes.length, ...hashes.map((h) => this.key(scope, h)), owner, String(this.ttlMs))) as number[];
    const mine: string[] = [];
    const others: string[] = [];
    hashes.forEach((h, i) => (result[i] === 1 ? mine : others).push(h));
    return { mine, others };
  }

  async release(scope: string, owner: string, hashes: string[]): Promise<void> {
    if (!hashes.length) return;
    await this.redis.eval(RELEASE, hashes.length, ...hashes.map((h) => this.key(scope, h)), owner);
  }
}
