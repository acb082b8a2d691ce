/**
 * Why a job attempt was cut short: its signal aborted (docs/design.md,
 * "Deadlines and leases"). The message names what the job was waiting for
 * when it happened, e.g. "embed job deadline of 15m0s passed while waiting
 * for a postgres query (INSERT INTO embeddings …)". Each class is a decision:
 * - JobDeadlineError: the attempt failed (retried with backoff while attempts last);
 * - LeaseLostError: this delivery lost its BullMQ lock or its claims to a
 *   redelivery: stop before paying; the redelivery does the work;
 * - ShutdownError: the process drains: hand the job back, attempts untouched.
 */
export class JobAbortedError extends Error {
  override name = 'JobAbortedError';

  /** A copy of this error naming what the job was waiting for. */
  whileWaitingFor(what: string): JobAbortedError {
    const Ctor = this.constructor as new (message: string, options?: ErrorOptions) => JobAbortedError;
    return new Ctor(`${this.message} while waiting for ${what}`, { cause: this });
  }
}

export class JobDeadlineError extends JobAbortedError {
  override name = 'JobDeadlineError';
}

export class LeaseLostError extends JobAbortedError {
  override name = 'LeaseLostError';
}

export class ShutdownError extends JobAbortedError {
  override name = 'ShutdownError';
}
