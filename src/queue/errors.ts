/**
 * Errors whose type is the retry decision (after bullmq's UnrecoverableError):
 * a PermanentError fails its job at once with its message kept in the failed
 * set; anything else is retried with backoff until attempts run out.
 */
import { UnrecoverableError } from 'bullmq';
import { ZodError } from 'zod';

/** Bad input or a refusal that no retry can fix. Fails the job at once. */
export class PermanentError extends Error {
  override name = 'PermanentError';
}

/** Normalises an unknown throwable once, keeping the original as `cause`. */
export function asError(err: unknown): Error {
  if (err instanceof Error) return err;
  return new Error(typeof err === 'string' ? err : JSON.stringify(err), { cause: err });
}

/** True for errors that must not be retried. */
export function isPermanent(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return (
    err instanceof PermanentError ||
    err instanceof UnrecoverableError ||
    err instanceof ZodError ||
    err.name === 'UnrecoverableError' ||
    err.name === 'PermanentFetchError' ||
    (err as { permanent?: unknown }).permanent === true
  );
}

/** Formats a zod error as one line naming each bad field. */
export function describeZodError(err: ZodError): string {
  return err.issues.map((i) => `${i.path.join('.') || '(payload)'}: ${i.message}`).join('; ');
}
