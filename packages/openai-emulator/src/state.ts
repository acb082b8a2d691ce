/**
 * Everything the emulator remembers between requests: the settings, the
 * fault PRNG, one rolling window per model, the stats counters, the
 * controllable clock, and the Files and Vector Stores. Handlers get it
 * through the request context.
 */
import { performance } from 'node:perf_hooks';
import { EmulatorClock } from './clock.ts';
import { createRandom, type Random } from './faults.ts';
import { RollingWindow } from './limits.ts';
import { DEFAULT_SETTINGS, mergeSettings, type EmulatorSettings } from './options.ts';
import type { StatePersistence } from './persistence.ts';
import { StatsCounters, type EmulatorStats, type ModelWindowStats } from './stats.ts';
import { Storage } from './storage.ts';

/** A monotonic clock in milliseconds. */
export type Clock = () => number;

/** Mutable emulator state shared by all handlers. */
export class EmulatorState {
  settings: EmulatorSettings;
  random: Random;
  counters = new StatsCounters();
  readonly now: Clock;
  /** Object timestamps, expiry, processing delays and per-store write windows (tests advance it). */
  readonly clock: EmulatorClock;
  /** Files and vector stores. */
  storage: Storage;
  readonly #windows = new Map<string, RollingWindow>();
  /** Where Files and stores are saved (option `stateDir`), if anywhere. */
  persistence: StatePersistence | undefined;

  /**
   * @param settings initial settings (validated like a patch over the defaults)
   * @param now monotonic clock, ms; defaults to `performance.now()` so wall-clock jumps cannot open or close windows
   * @param clock the controllable emulator clock (default: starts at the current wall-clock time)
   */
  constructor(
    settings: Partial<EmulatorSettings> = {},
    now: Clock = () => performance.now(),
    clock: EmulatorClock = new EmulatorClock(),
  ) {
    this.settings = mergeSettings(DEFAULT_SETTINGS, settings);
    this.random = createRandom(this.settings.seed);
    this.now = now;
    this.clock = clock;
    this.storage = new Storage(this);
  }

  /**
   * Applies a validated settings patch. A new `seed` restarts the fault
   * sequence; limits and windows keep their history (call `reset()` after
   * changing limits if peaks must be compared with the new ones).
   * @throws SettingsError for an invalid patch (nothing is changed then)
   */
  configure(patch: unknown): EmulatorSettings {
    const next = mergeSettings(this.settings, patch);
    const reseed = next.seed !== this.settings.seed;
    this.settings = next;
    if (reseed) this.random = createRandom(next.seed);
    return this.settings;
  }

  /**
   * Clears stats, all windows, every File and vector store, and restarts the
   * fault sequence from `seed`; settings stay, and so does the clock (it
   * never runs backwards).
   */
  reset(): void {
    this.counters = new StatsCounters();
    this.#windows.clear();
    this.random = createRandom(this.settings.seed);
    this.storage = new Storage(this);
  }

  /**
   * Saves Files, stores and the clock when a state directory is set and
   * anything changed since the last save (see `persistence.ts`).
   * @param force write even when nothing changed (at close: a fresh save time)
   */
  persist(force = false): void {
    this.persistence?.save(this.storage, this.clock, force);
  }

  /** The rolling window of `model`, created on first use. */
  window(model: string): RollingWindow {
    let w = this.#windows.get(model);
    if (!w) {
      w = new RollingWindow();
      this.#windows.set(model, w);
    }
    return w;
  }

  /** A full stats snapshot, including window peaks and the limits in force. */
  stats(): EmulatorStats {
    const { rpm, tpm, windowMs } = this.settings;
    const now = this.now();
    const byModel: Record<string, ModelWindowStats> = {};
    let peakRequests = 0;
    let peakTokens = 0;
    for (const [model, w] of [...this.#windows].sort(([a], [b]) => a.localeCompare(b))) {
      const usage = w.usage(now, windowMs);
      byModel[model] = {
        peakRequests: w.peakRequests,
        peakTokens: w.peakTokens,
        currentRequests: usage.requests,
        currentTokens: usage.tokens,
      };
      peakRequests = Math.max(peakRequests, w.peakRequests);
      peakTokens = Math.max(peakTokens, w.peakTokens);
    }
    this.storage.settle();
    return {
      ...this.counters.snapshot(),
      limits: { rpm, tpm, windowMs },
      windows: { peakRequests, peakTokens, byModel },
      storage: this.storage.totals(),
      clock: { nowMs: Math.floor(this.clock.nowMs()), offsetMs: this.clock.offsetMs },
    };
  }
}
