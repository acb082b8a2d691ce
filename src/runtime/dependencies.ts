/**
 * Watches the dependencies a worker process cannot work without (Redis,
 * Postgres) by probing each on a timer, each probe under a deadline. While
 * one is down the process's workers stop taking jobs, a job interrupted by
 * the outage waits here instead of failing, and `/readyz` says which one it
 * waits for (docs/design.md, "Dependency outages").
 */
import type { Dependency } from '../errors/index.ts';
import type { Logger } from '../log/logger.ts';
import { waitingForDependency } from '../metrics/metrics.ts';
import { within } from './deadline.ts';

/** One dependency and how to ask it whether it answers. */
export interface DependencyProbe {
  name: Dependency;
  /** Resolves when the dependency answered; rejects (or never settles) when not. */
  check(): Promise<unknown>;
}

/** Options of {@link DependencyMonitor}. */
export interface DependencyMonitorOptions {
  /** Time between probes, ms (`DEPENDENCY_PROBE_MS`). */
  intervalMs: number;
  /** Deadline of one probe, ms: a probe that does not answer in time counts as down. */
  timeoutMs: number;
  logger: Logger;
}

/** What is down right now, and since when (epoch ms) and why. */
export interface DownState {
  since: number;
  error: string;
}

export class DependencyMonitor {
  private readonly down = new Map<Dependency, DownState>();
  private readonly listeners = new Set<(down: ReadonlyMap<Dependency, DownState>) => void>();
  private timer: NodeJS.Timeout | undefined;
  private probing: Promise<void> | undefined;
  private stopped = false;
  private readonly probes: readonly DependencyProbe[];
  private readonly opts: DependencyMonitorOptions;

  constructor(probes: readonly DependencyProbe[], opts: DependencyMonitorOptions) {
    this.probes = probes;
    this.opts = opts;
    for (const p of probes) waitingForDependency.set({ dependency: p.name }, 0);
  }

  /** Starts probing every `intervalMs`; the first probe runs at once. */
  start(): void {
    if (this.timer || this.stopped) return;
    const loop = () => {
      void this.probeNow().finally(() => {
        if (!this.stopped) this.timer = setTimeout(loop, this.opts.intervalMs).unref();
      });
    };
    loop();
  }

  /** Stops probing and wakes every waiter (they see the dependencies as they were last probed). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const l of this.listeners) l(this.down);
  }

  /** True when every dependency answered its last probe. */
  isUp(): boolean {
    return this.down.size === 0;
  }

  /** The dependencies that did not answer their last probe. */
  downNow(): ReadonlyMap<Dependency, DownState> {
    return this.down;
  }

  /** Calls `fn` whenever the set of down dependencies changes. Returns the unsubscribe. */
  onChange(fn: (down: ReadonlyMap<Dependency, DownState>) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Probes every dependency now (one probe at a time: concurrent callers share it). */
  probeNow(): Promise<void> {
    this.probing ??= this.probeAll().finally(() => {
      this.probing = undefined;
    });
    return this.probing;
  }

  /**
   * Waits until every dependency answers, or `timeoutMs` passes, or `signal`
   * aborts, or the monitor stops.
   * @returns true when everything is up.
   */
  async waitUntilUp(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.isUp()) return true;
    return new Promise<boolean>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        unsubscribe();
        signal?.removeEventListener('abort', done);
        resolve(this.isUp());
      };
      const timer = setTimeout(done, timeoutMs);
      const unsubscribe = this.onChange((down) => {
        if (down.size === 0 || this.stopped) done();
      });
      signal?.addEventListener('abort', done, { once: true });
      if (this.stopped || signal?.aborted) done();
    });
  }

  private async probeAll(): Promise<void> {
    const results = await Promise.all(this.probes.map(async (p) => [p.name, await this.probe(p)] as const));
    let changed = false;
    for (const [name, error] of results) {
      const was = this.down.get(name);
      if (error === undefined && was) {
        this.down.delete(name);
        waitingForDependency.set({ dependency: name }, 0);
        this.opts.logger.info({ dependency: name, downMs: Date.now() - was.since }, `${name} answers again: resuming`);
        changed = true;
      } else if (error !== undefined && !was) {
        this.down.set(name, { since: Date.now(), error });
        waitingForDependency.set({ dependency: name }, 1);
        this.opts.logger.warn({ dependency: name, error }, `${name} does not answer: pausing workers until it does`);
        changed = true;
      }
    }
    if (changed) for (const l of this.listeners) l(this.down);
  }

  /** Runs one probe under the deadline. @returns undefined when it answered, else why not. */
  private async probe(p: DependencyProbe): Promise<string | undefined> {
    try {
      await within(p.check(), this.opts.timeoutMs);
      return undefined;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  }
}
