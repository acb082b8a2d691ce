/**
 * Everything the emulator remembers between requests: the settings, the
 * fault PRNG, one rolling window per model, and the stats counters. Handlers
 * get it through the request context; later endpoints (Files, Vector Stores)
 * add their stores here.
 */
import { performance } from 'node:perf_hooks';
import { createRandom, type Random } from './faults.ts';
import { RollingWindow } from './limits.ts';
import { DEFAULT_SETTINGS, mergeSettings, type EmulatorSettings } from './options.ts';
import { StatsCounters, type EmulatorStats, type ModelWindowStats } from './stats.ts';

/** A monotonic clock in milliseconds. */
export type Clock = () => number;

/** Mutable emulator state shared by all handlers. */
export class EmulatorState {
  settings: EmulatorSettings;
  random: Random;
  counters = new StatsCounters();
  readonly now: Clock;
  readonly #windows = new Map<string, RollingWindow>();

  /**
   * @param settings initial settings (validated like a patch over the defaults)
   * @param now monotonic clock, ms; defaults to `performance.now()` so wall-clock jumps cannot open or close windows
   */
  constructor(settings: Partial<EmulatorSettings> = {}, now: Clock = () => performance.now()) {
    this.settings = mergeSettings(DEFAULT_SETTINGS, settings);
    this.random = createRandom(this.settings.seed);
    this.now = now;
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

  /** Clears stats and all windows and restarts the fault sequence from `seed`; settings stay. */
  reset(): void {
    this.counters = new StatsCounters();
    this.#windows.clear();
    this.random = createRandom(this.settings.seed);
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
    return {
      ...this.counters.snapshot(),
      limits: { rpm, tpm, windowMs },
      windows: { peakRequests, peakTokens, byModel },
    };
  }
}
