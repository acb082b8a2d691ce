/**
 * The signal of one job attempt, and waits that end when it aborts
 * (docs/design.md, "Deadlines and leases"). Every wait of a job — budget,
 * claims, pool checkouts and queries, fetches, API responses — goes through
 * {@link waitFor}, so a job past its deadline, a delivery that lost its
 * lock, or a draining process stops waiting, with an error naming the wait.
 */
import type pg from 'pg';
import { JobAbortedError } from '../errors/index.ts';

/**
 * Resolves or rejects as `promise` does, unless `signal` aborts first: then
 * rejects with the abort reason naming `what` (the promise keeps running;
 * its outcome is ignored).
 */
export function waitFor<T>(what: string, promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(named(signal.reason, what));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      promise.catch(() => {});
      reject(named(signal.reason, what));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/** Sleeps `ms`, or rejects (naming `what`) when `signal` aborts first. */
export function sleepFor(what: string, ms: number, signal: AbortSignal | undefined): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const slept = new Promise<void>((r) => {
    timer = setTimeout(r, ms);
  });
  return waitFor(what, slept, signal).finally(() => clearTimeout(timer));
}

/**
 * Resolves or rejects as `promise` does, unless `ms` pass first: then rejects
 * with `Error("no answer within <ms> ms")` (the promise keeps running; its
 * outcome is ignored). For probes and connection checks, whose caller only
 * needs to know whether an answer came in time.
 */
export function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new Error(`no answer within ${ms} ms`)), ms);
  return waitFor('an answer', promise, deadline.signal).finally(() => clearTimeout(timer));
}

function named(reason: unknown, what: string): unknown {
  return reason instanceof JobAbortedError ? reason.whileWaitingFor(what) : reason;
}

/** The first words of a statement, for naming a wait. */
function head(sql: unknown): string {
  const text = typeof sql === 'string' ? sql : ((sql as { text?: string } | undefined)?.text ?? '');
  const words = text.replace(/\s+/g, ' ').trim();
  return words.length > 40 ? `${words.slice(0, 40)} …` : words;
}

/**
 * A view of `pool` whose checkouts and queries end when `signal` aborts:
 * `query` and `connect` race the signal, and so does `query` on a client it
 * hands out. A client whose query was abandoned is destroyed at release, never
 * reused (its connection may be half-open). Everything else is the pool's own.
 */
export function poolWithSignal(pool: pg.Pool, signal: AbortSignal): pg.Pool {
  return new Proxy(pool, {
    get(target, prop, receiver) {
      if (prop === 'query')
        return (...args: unknown[]) =>
          waitFor(
            `a postgres query (${head(args[0])})`,
            (target.query as (...a: unknown[]) => Promise<unknown>)(...args),
            signal,
          );
      if (prop === 'connect')
        return async () => {
          const checkout = target.connect();
          try {
            return clientWithSignal(await waitFor('a postgres connection from the pool', checkout, signal), signal);
          } catch (err) {
            // A connection that arrives after the abort goes straight back.
            checkout.then(
              (c) => c.release(),
              () => {},
            );
            throw err;
          }
        };
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

function clientWithSignal(client: pg.PoolClient, signal: AbortSignal): pg.PoolClient {
  let abandoned = false;
  return new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === 'query')
        return (...args: unknown[]) => {
          const q = (target.query as (...a: unknown[]) => Promise<unknown>)(...args);
          return waitFor(`a postgres query (${head(args[0])})`, q, signal).catch((err: unknown) => {
            if (signal.aborted) abandoned = true;
            throw err;
          });
        };
      if (prop === 'release') return (destroy?: boolean | Error) => target.release(abandoned ? true : destroy);
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
