import { PermanentError } from './permanent-error.ts';

/**
 * Decision: **stop waiting for the run, do not retry** (a {@link PermanentError}).
 * The run's tracking state in Redis is gone while Redis answers: flushed,
 * restarted without persistence, evicted. Nothing can finish the run any
 * more, so `ingest`/`sync` end (docs/design.md, "Runs that lose their state")
 * instead of waiting forever; what was written to Postgres stays. The CLI
 * prints the message alone and exits 1 (src/cli/run-command.ts); a schedule
 * tick fails for good. An unreachable Redis is never this error.
 */
export class RunStateLostError extends PermanentError {
  override name = 'RunStateLostError';
  /** The run whose state is gone. */
  readonly runId: string;
  /** What of it is gone, in words: e.g. `its record`, `its job list (0 of 143 left)`. */
  readonly lost: readonly string[];

  /**
   * @param keys where the run's state lived, e.g. `sluice:run:<id>:*`
   * @param lastSeen the run's progress when the waiter last read it, if it read any
   */
  constructor(
    runId: string,
    lost: readonly string[],
    keys: string,
    lastSeen?: { jobs: number; finished: number; failed: number },
  ) {
    const seen = lastSeen
      ? `; ${lastSeen.finished} of its ${lastSeen.jobs} jobs had finished (${lastSeen.failed} failed) when last seen`
      : '';
    super(
      `run ${runId}: its state is gone from Redis: ${lost.join(', ')} (${keys})${seen}. ` +
        'Was Redis flushed, or restarted without persistence (AOF)? What was written to the database is kept; ' +
        'run the same command again to start a new run.',
    );
    this.runId = runId;
    this.lost = lost;
  }
}
