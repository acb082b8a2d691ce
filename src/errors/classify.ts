/**
 * The one place that reads a retry decision off a thrown value: by class
 * or by the `permanent` flag, never by name strings (a name can be faked or
 * renamed; a class cannot).
 */
import { UnrecoverableError } from 'bullmq';
import { ZodError } from 'zod';
import { PermanentError } from './permanent-error.ts';

/** Normalises an unknown throwable once, keeping the original as `cause`. */
export function asError(err: unknown): Error {
  if (err instanceof Error) return err;
  return new Error(typeof err === 'string' ? err : JSON.stringify(err), { cause: err });
}

/**
 * True for errors that must not be retried: {@link PermanentError} and its
 * subclasses, BullMQ's UnrecoverableError, a payload that fails its schema
 * (ZodError), and any error flagged `permanent: true` (fetch errors).
 */
export function isPermanent(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return (
    err instanceof PermanentError ||
    err instanceof UnrecoverableError ||
    err instanceof ZodError ||
    (err as { permanent?: unknown }).permanent === true
  );
}

/** Formats a zod error as one line naming each bad field. */
export function describeZodError(err: ZodError): string {
  return err.issues.map((i) => `${i.path.join('.') || '(payload)'}: ${i.message}`).join('; ');
}
