/**
 * Runs a CLI action: known errors (configuration, unreachable services, bad
 * input, a run whose state was lost) print one line naming the input and the
 * fix; exit codes are 0 success, 1 something failed, 2 bad usage or environment.
 */
import { ZodError } from 'zod';
import { describeZodError, PermanentError, RunStateLostError, StartupError } from '../errors/index.ts';

/** Errors whose message alone says what to fix: printed as one line, exit 2. */
const USAGE_ERRORS = [StartupError, PermanentError];

/** Errors that end a command whose work failed midway, their message naming what was lost: one line, exit 1. */
const RUN_ERRORS = [RunStateLostError];

/** @param action resolves to the exit code, or to nothing for 0 */
export async function runCommand(action: () => Promise<unknown>, opts: { keepAlive?: boolean } = {}): Promise<void> {
  try {
    const code = await action();
    if (!opts.keepAlive) process.exit(typeof code === 'number' ? code : 0);
  } catch (err) {
    if (err instanceof ZodError) {
      process.stderr.write(`sluice: invalid input: ${describeZodError(err)}\n`);
      process.exit(2);
    }
    // Before the usage errors: a RunStateLostError is a PermanentError too.
    if (RUN_ERRORS.some((E) => err instanceof E)) {
      process.stderr.write(`sluice: ${(err as Error).message}\n`);
      process.exit(1);
    }
    if (USAGE_ERRORS.some((E) => err instanceof E)) {
      process.stderr.write(`sluice: ${(err as Error).message}\n`);
      process.exit(2);
    }
    process.stderr.write(`sluice: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  }
}
