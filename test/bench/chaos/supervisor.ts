/**
 * The chaos run's supervisor: keeps a fixed set of worker processes alive as
 * systemd (`Restart=always`) or a Kubernetes Deployment would, restarting a
 * process `restartDelayMs` after it exits, and tells apart the exits the
 * harness caused (its own SIGKILLs and SIGTERMs) from any other exit — the
 * figure the chaos run wants at 0.
 */
import type { ChildProcess } from 'node:child_process';

/** How one supervised process ended. */
export interface Exit {
  slot: string;
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The signal the harness sent it before it exited, if any: an exit without one is unexpected. */
  sentBy: 'sigkill' | 'sigterm' | null;
  /** Lifetime of the process, ms. */
  livedMs: number;
  /** The last part of its stderr, for the report of an unexpected exit. */
  stderrTail: string;
}

/** A running supervised process. */
export interface Supervised {
  slot: string;
  child: ChildProcess;
  pid: number;
  startedAt: number;
  /** Stopped with SIGSTOP and not continued yet. */
  stopped: boolean;
  /** Sent SIGTERM: it is draining, and a second SIGTERM would force its exit. */
  draining: boolean;
}

/** Starts the process of a slot (e.g. `sluice worker embed` with its environment). */
export type Launch = (slot: string) => ChildProcess;

export interface SupervisorOptions {
  /** Delay before a process that exited is started again, ms (systemd's RestartSec). Default 1000. */
  restartDelayMs?: number;
  /** Bytes of stderr kept per process. Default 4000. */
  stderrBytes?: number;
}

export class Supervisor {
  readonly exits: Exit[] = [];
  private readonly running = new Map<string, Supervised>();
  private readonly sent = new Map<number, 'sigkill' | 'sigterm'>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closing = false;
  private readonly restartDelayMs: number;
  private readonly stderrBytes: number;
  private readonly launch: Launch;

  constructor(launch: Launch, options: SupervisorOptions = {}) {
    this.launch = launch;
    this.restartDelayMs = options.restartDelayMs ?? 1000;
    this.stderrBytes = options.stderrBytes ?? 4000;
  }

  /** Starts a process in each slot. */
  start(slots: readonly string[]): void {
    for (const slot of slots) this.spawn(slot);
  }

  /** The processes running now (stopped ones included). */
  alive(): Supervised[] {
    return [...this.running.values()];
  }

  /** Starts (restarts) so far, beyond the first start of each slot. */
  get restarts(): number {
    return this.exits.length;
  }

  /** Exits the harness did not cause. */
  unexpectedExits(): Exit[] {
    return this.exits.filter((e) => e.sentBy === null);
  }

  /**
   * Sends a signal to a supervised process. SIGKILL and SIGTERM mark its exit
   * as caused by the harness; SIGSTOP/SIGCONT mark it stopped or not.
   */
  signal(p: Supervised, signal: 'SIGKILL' | 'SIGTERM' | 'SIGSTOP' | 'SIGCONT'): void {
    if (signal === 'SIGKILL') this.sent.set(p.pid, 'sigkill');
    if (signal === 'SIGTERM' && !this.sent.has(p.pid)) this.sent.set(p.pid, 'sigterm');
    p.stopped = signal === 'SIGSTOP' ? true : signal === 'SIGCONT' ? false : p.stopped;
    if (signal === 'SIGTERM') p.draining = true;
    p.child.kill(signal);
  }

  /** Stops restarting and SIGKILLs every process; resolves once all exited. */
  async close(): Promise<void> {
    this.closing = true;
    for (const t of this.timers) clearTimeout(t);
    const exits = this.alive().map((p) => {
      const gone = new Promise((r) => p.child.once('exit', r));
      p.child.kill('SIGKILL');
      return gone;
    });
    await Promise.all(exits);
  }

  private spawn(slot: string): void {
    const child = this.launch(slot);
    const p: Supervised = { slot, child, pid: child.pid ?? -1, startedAt: Date.now(), stopped: false, draining: false };
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-this.stderrBytes);
    });
    child.stdout?.resume();
    child.on('error', () => {}); // a failed spawn ends in 'exit' too
    child.once('exit', (code, signal) => {
      this.running.delete(slot);
      if (this.closing) return;
      this.exits.push({
        slot,
        pid: p.pid,
        code,
        signal,
        sentBy: this.sent.get(p.pid) ?? null,
        livedMs: Date.now() - p.startedAt,
        stderrTail: stderr,
      });
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (!this.closing) this.spawn(slot);
      }, this.restartDelayMs);
      this.timers.add(timer);
    });
    this.running.set(slot, p);
  }
}
