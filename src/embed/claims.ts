/**
 * Per-hash claims in Redis, so that two embed jobs racing on one chunk hash
 * (the same text in two documents, runs or collections) send it to OpenAI
 * once: a job embeds only the hashes it claimed; for hashes another job
 * holds, it waits until they are embedded or the claim lapses (its owner
 * died), then takes them over. The unique key in Postgres stays the final
 * guard; claims only keep the money from being spent twice.
 *
 * A claim is a lease: its owner renews it (`hold`) for as long as it works
 * on the hashes, however long it waits for the shared budget (with a deep
 * backlog, many minutes), and it lapses `ttlMs` after the owner's process
 * stops renewing (killed, hung event loop). A fixed TTL alone let a claim
 * lapse while its owner was still waiting for budget: the waiting job then
 * took the hashes over and both paid for them.
 */
import type { Redis } from '../queue/redis.ts';
import { defineScript } from '../queue/scripts.ts';

/** Claim scripts (any number of keys); each file's header says what it reads and returns. */
const claimScript = defineScript<number[]>('sluiceHashClaim', new URL('./lua/claim.lua', import.meta.url));
const releaseScript = defineScript<number>('sluiceHashRelease', new URL('./lua/release.lua', import.meta.url));

/** Claims being renewed for their owner; see `HashClaims.hold`. */
export interface ClaimLease {
  /** Stops renewing (the claims then lapse after the TTL unless released). */
  stop(): void;
}

/**
 * Default claim TTL, ms: how long a dead owner's claims block others. A live
 * owner renews every third of it (20 s), so it survives two missed renewals
 * (an event loop stalled for up to 40 s) before another job may take over.
 */
export const DEFAULT_CLAIM_TTL_MS = 60_000;

export class HashClaims {
  readonly redis: Redis;
  readonly prefix: string;
  /**
   * How long a claim outlives its owner's last renewal, ms. Owners renew at
   * a third of it, so it must cover the longest stall of an owner's event
   * loop that should not cost a double payment.
   */
  readonly ttlMs: number;

  constructor(redis: Redis, prefix: string, ttlMs = DEFAULT_CLAIM_TTL_MS) {
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
    const result = await claimScript.run(
      this.redis,
      hashes.map((h) => this.key(scope, h)),
      [owner, String(this.ttlMs)],
    );
    const mine: string[] = [];
    const others: string[] = [];
    for (const [i, h] of hashes.entries()) (result[i] === 1 ? mine : others).push(h);
    return { mine, others };
  }

  /**
   * Renews `owner`'s claims on `hashes` every third of the TTL until
   * `stop()`, with `claim` itself: it extends what the owner holds and takes
   * back a lapsed claim nobody else took. The timer does not keep the process
   * alive; a renewal that fails (Redis away) is retried at the next tick
   * while the claim still has two thirds of its TTL left.
   * @param onLost called with how many of the hashes another owner now holds
   *   (the claim lapsed and was taken over): the Postgres unique key still
   *   prevents a second row, but the tokens may be paid twice.
   */
  hold(scope: string, owner: string, hashes: string[], onLost?: (lost: number) => void): ClaimLease {
    if (!hashes.length) return { stop() {} };
    let reported = 0;
    const timer = setInterval(
      () => {
        this.claim(scope, owner, hashes).then(
          ({ others }) => {
            if (others.length > reported) onLost?.(others.length);
            reported = Math.max(reported, others.length);
          },
          () => {},
        );
      },
      Math.max(1, Math.floor(this.ttlMs / 3)),
    );
    timer.unref();
    return { stop: () => clearInterval(timer) };
  }

  /**
   * How many of `hashes` `owner` does not hold right now (another owner took
   * them, or they lapsed). Checked right before paying: a delivery that
   * stalled past its claims must not send what a redelivery may be paying for.
   */
  async notHeld(scope: string, owner: string, hashes: string[]): Promise<number> {
    if (!hashes.length) return 0;
    const values = await this.redis.mget(...hashes.map((h) => this.key(scope, h)));
    return values.filter((v) => v !== owner).length;
  }

  async release(scope: string, owner: string, hashes: string[]): Promise<void> {
    if (!hashes.length) return;
    await releaseScript.run(
      this.redis,
      hashes.map((h) => this.key(scope, h)),
      [owner],
    );
  }
}
