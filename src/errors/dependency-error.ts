/**
 * Decision: **wait, then retry without burning an attempt**. Redis or
 * Postgres did not answer: the job is not at fault, and failing it would
 * lose work the outage did not cause (docs/design.md, "Dependency outages").
 * The worker wrapper waits in place for the dependency (bounded by
 * `DEPENDENCY_WAIT_MS`) and re-runs the processor; past that deadline it
 * hands the job back delayed, its attempts untouched.
 */
import { isFetchError } from './fetch-error.ts';

/** The dependencies a worker process cannot work without. */
export type Dependency = 'redis' | 'postgres';

export class DependencyUnavailableError extends Error {
  override name = 'DependencyUnavailableError';
  /** What is down, e.g. `['postgres']`. */
  readonly dependencies: readonly Dependency[];

  constructor(message: string, dependencies: readonly Dependency[], options?: ErrorOptions) {
    super(message, options);
    this.dependencies = dependencies;
  }
}

/**
 * Error codes and messages of a lost connection to Redis (ioredis) or
 * Postgres (pg, pg-pool): these libraries throw plain Errors, so the
 * signature is all there is. Matched on the error and its `cause` chain.
 */
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);
const CONNECTION_MESSAGES = [
  'Connection is closed', // ioredis: the socket closed under a command
  'Reached the max retries per request limit', // ioredis: gave up a command while reconnecting
  'Command timed out', // ioredis commandTimeout
  "Stream isn't writeable and enableOfflineQueue options is false", // ioredis offline
  'Connection terminated', // pg: "Connection terminated unexpectedly" / "… due to connection timeout"
  'timeout exceeded when trying to connect', // pg-pool connectionTimeoutMillis
  'terminating connection due to administrator command', // Postgres restarted (57P01)
  'the database system is starting up', // 57P03
  'the database system is shutting down',
  'too many clients already', // 53300: the server is out of connections for now
  'Client has encountered a connection error',
];

/**
 * True when `err` (or an error in its `cause` chain) says a connection to
 * Redis or Postgres was lost or refused. Fetch errors of the crawler (a
 * site refusing connections) are never dependency errors.
 */
export function isConnectionError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (isFetchError(e)) return false;
    if (e instanceof DependencyUnavailableError) return true;
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== undefined && CONNECTION_CODES.has(code)) return true;
    if (CONNECTION_MESSAGES.some((m) => e instanceof Error && e.message.includes(m))) return true;
  }
  return false;
}
