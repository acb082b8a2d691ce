/**
 * Graceful shutdown: the first SIGTERM/SIGINT drains (stop taking jobs,
 * finish active ones) within a deadline; a second signal, or the deadline,
 * forces the exit. Jobs cut off by a forced exit return to the queue when
 * their lock expires (at-least-once), and every write they did is idempotent.
 */
import type { Logger } from '../log/logger.ts';

export function onShutdown(logger: Logger, deadlineMs: number, drain: (signal: string) => Promise<void>): void {
  let draining = false;
  const handler = (signal: NodeJS.Signals) => {
    if (draining) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    draining = true;
    logger.info({ signal, deadlineMs }, 'draining: finishing active jobs (send the signal again to exit at once)');
    const timer = setTimeout(() => {
      logger.error({ deadlineMs }, 'drain deadline passed: exiting with jobs still active (they will be retried)');
      process.exit(1);
    }, deadlineMs);
    timer.unref();
    drain(signal).then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'drain failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}
