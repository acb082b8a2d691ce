/**
 * Opening a worker process's runtime while Redis or Postgres is down
 * (docs/design.md, "Dependency outages"): a worker restarted during an outage
 * — by a supervisor after a crash, a deploy, or a node move — waits for its
 * dependencies instead of exiting, which a supervisor would answer with a
 * restart loop and, under Kubernetes, CrashLoopBackOff delays of up to five
 * minutes after the outage ended. While it waits, `/readyz` says what it
 * waits for, and the wait has a deadline (`STARTUP_WAIT_MS`).
 */
import { DatabaseUnavailableError, RedisUnavailableError } from '../errors/index.ts';
import type { Logger } from '../log/logger.ts';
import { sleepFor } from './deadline.ts';

/** First pause between attempts, ms; doubled up to {@link MAX_RETRY_MS}. */
const FIRST_RETRY_MS = 500;
/** Longest pause between attempts, ms: a worker comes back within this of its dependency. */
const MAX_RETRY_MS = 5_000;

export interface StartupWaitOptions {
  /** How long to keep trying, ms (`STARTUP_WAIT_MS`); 0 tries once. */
  deadlineMs: number;
  logger: Logger;
  /** Ends the wait (a SIGTERM during startup): the abort reason is thrown. */
  signal?: AbortSignal;
  /** Told what the process waits for (a sentence), and `undefined` once it is open. */
  onWaiting?: (what: string | undefined) => void;
}

/** Whether an error of opening means "a dependency does not answer yet" (worth waiting for), not bad configuration. */
export function isUnreachable(err: unknown): err is RedisUnavailableError | DatabaseUnavailableError {
  return err instanceof RedisUnavailableError || err instanceof DatabaseUnavailableError;
}

/**
 * Calls `open` until it succeeds, as long as it fails only because Redis or
 * Postgres does not answer, pausing 0.5 s, then doubling up to 5 s.
 * @returns what `open` returned
 * @throws the last RedisUnavailableError / DatabaseUnavailableError once
 *   `deadlineMs` has passed, its message saying how long it waited; any other
 *   error of `open` at once; the abort reason when `signal` aborts
 */
export async function openWhenReachable<T>(open: () => Promise<T>, options: StartupWaitOptions): Promise<T> {
  const started = Date.now();
  let pause = FIRST_RETRY_MS;
  let logged: string | undefined;
  for (;;) {
    options.signal?.throwIfAborted();
    try {
      const opened = await open();
      if (logged) options.logger.info({ waitedMs: Date.now() - started }, 'dependencies answer: starting');
      options.onWaiting?.(undefined);
      return opened;
    } catch (err) {
      if (!isUnreachable(err)) throw err;
      const waited = Date.now() - started;
      if (waited + pause > options.deadlineMs) {
        if (waited > 0)
          err.message += ` Waited ${Math.round(waited / 1000)} s (STARTUP_WAIT_MS=${options.deadlineMs}).`;
        throw err;
      }
      const what = err instanceof RedisUnavailableError ? 'redis' : 'postgres';
      if (logged !== what) {
        options.logger.warn(
          { dependency: what, err: { message: err.message } },
          `${what} does not answer: waiting for it before starting`,
        );
        logged = what;
      }
      options.onWaiting?.(`waiting for ${what} for ${Math.round(waited / 1000)} s: ${err.message}`);
      await sleepFor('a dependency at startup', pause, options.signal);
      pause = Math.min(pause * 2, MAX_RETRY_MS);
    }
  }
}
