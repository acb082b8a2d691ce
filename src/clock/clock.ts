/**
 * The one clock TTL decisions read (docs/design.md, "TTL cleanup"): every
 * TTL predicate compares last-use times with a timestamp taken from here
 * and passed to Postgres as a parameter, never the database's `now()`, so
 * a test moves this clock instead of backdating rows.
 */
export interface Clock {
  now(): Date;
}

/** The system clock, optionally moved forward (tests): `now()` is wall time plus the offset. */
export class OffsetClock implements Clock {
  #offsetMs = 0;

  now(): Date {
    return new Date(Date.now() + this.#offsetMs);
  }

  /** Moves the clock forward by `ms` (≥ 0). */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new Error(`advance needs ms ≥ 0, got ${ms}`);
    this.#offsetMs += ms;
  }

  get offsetMs(): number {
    return this.#offsetMs;
  }
}
