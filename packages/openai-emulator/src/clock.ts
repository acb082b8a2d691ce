/**
 * The emulator's controllable clock. Every timestamp the Files and Vector
 * Stores endpoints hand out (`created_at`, `last_active_at`, `expires_at`),
 * every expiry (files' `expires_after`, stores' `expires_after.days` of
 * inactivity), the file-processing delay and the per-store write windows are
 * read from it, so a test can jump days ahead with `advanceClock(ms)` /
 * `POST /_emulator/clock` instead of waiting.
 *
 * It runs at real speed from the wall-clock time at start-up (monotonic: it
 * follows `performance.now()`, so wall-clock jumps do not move it), plus the
 * offset tests added. It never runs backwards. The embeddings rate-limit
 * windows stay on the real monotonic clock (advancing this one does not
 * refill RPM/TPM).
 */
import { performance } from 'node:perf_hooks';

/** A controllable clock, epoch milliseconds. */
export class EmulatorClock {
  readonly #wallAtStart: number;
  readonly #monoAtStart: number;
  readonly #mono: () => number;
  #offsetMs = 0;

  /**
   * @param wallAtStart epoch ms the clock starts at (default `Date.now()`)
   * @param mono monotonic ms source (default `performance.now()`)
   */
  constructor(wallAtStart: number = Date.now(), mono: () => number = () => performance.now()) {
    this.#wallAtStart = wallAtStart;
    this.#mono = mono;
    this.#monoAtStart = mono();
  }

  /** Now, epoch milliseconds. */
  nowMs(): number {
    return this.#wallAtStart + (this.#mono() - this.#monoAtStart) + this.#offsetMs;
  }

  /** Now, Unix seconds (what the API's `*_at` fields carry). */
  nowSeconds(): number {
    return Math.floor(this.nowMs() / 1000);
  }

  /** Total milliseconds tests have advanced the clock by. */
  get offsetMs(): number {
    return this.#offsetMs;
  }

  /**
   * Moves the clock forward.
   * @param ms milliseconds, finite and ≥ 0
   * @returns the new time, epoch ms
   * @throws RangeError for a negative or non-finite amount (the clock never runs backwards)
   */
  advance(ms: number): number {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`advanceMs must be a finite number ≥ 0, got ${ms}`);
    this.#offsetMs += ms;
    return this.nowMs();
  }
}
