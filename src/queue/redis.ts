/**
 * Redis connections, by role (docs/design.md, "Dependency outages"):
 * - `blocking`: a BullMQ Worker's own connection. Reconnects forever and
 *   keeps commands until it is back (`maxRetriesPerRequest: null`, as BullMQ
 *   requires for workers).
 * - `worker`: the main connection of a process that runs workers (run
 *   tracking, budget, claims, enqueueing follow-up jobs). Reconnects forever
 *   with capped backoff, but fails a command within seconds while Redis is
 *   away, so the job wrapper can see the outage and wait for it.
 * - `producer`: CLI commands and producers that run no worker fail fast with
 *   a one-line error instead of hanging.
 */
import { Redis } from 'ioredis';
import type { Config } from '../config/config.ts';
import { RedisUnavailableError } from '../errors/index.ts';
import { redactUrl } from '../log/logger.ts';
import { within } from '../runtime/deadline.ts';

export type { Redis };

export type RedisRole = 'blocking' | 'worker' | 'producer';

/**
 * How long a producer waits for Redis before giving up, ms. A reachable
 * Redis answers in milliseconds; 3 s lets a CLI user see the one-line error
 * (and the command that starts Redis) instead of a hang.
 */
const PRODUCER_CONNECT_TIMEOUT_MS = 3000;

/** Longest pause between reconnect attempts of a worker process, ms: back within 2 s of Redis. */
const RECONNECT_MAX_DELAY_MS = 2000;

/** Reconnect forever: 100, 200, 400 … ms, capped at {@link RECONNECT_MAX_DELAY_MS}. */
export function reconnectForever(times: number): number {
  return Math.min(100 * 2 ** Math.min(times - 1, 10), RECONNECT_MAX_DELAY_MS);
}

/** TCP keepalive on every connection, ms: finds half-open sockets after a failover. */
const KEEPALIVE_MS = 10_000;

/** Opens a connection for a role (see the file comment for the difference). */
export function createRedis(config: Config, role: RedisRole): Redis {
  if (role === 'blocking') {
    return new Redis(config.redis.url, {
      maxRetriesPerRequest: null,
      enableReadyCheck: true,
      retryStrategy: reconnectForever,
      keepAlive: KEEPALIVE_MS,
    });
  }
  if (role === 'worker') {
    return new Redis(config.redis.url, {
      // A command waits through at most two reconnect attempts (~300 ms), then
      // fails with "Reached the max retries per request limit": the job
      // wrapper then waits for Redis instead of hanging inside a command.
      maxRetriesPerRequest: 2,
      commandTimeout: config.redis.commandTimeoutMs,
      connectTimeout: PRODUCER_CONNECT_TIMEOUT_MS,
      retryStrategy: reconnectForever,
      keepAlive: KEEPALIVE_MS,
    });
  }
  return new Redis(config.redis.url, {
    maxRetriesPerRequest: 1,
    connectTimeout: PRODUCER_CONNECT_TIMEOUT_MS,
    enableOfflineQueue: true,
    retryStrategy: (times) => (times > 3 ? null : 200 * times),
  });
}

/**
 * Pings Redis once within a deadline.
 * @throws RedisUnavailableError naming the URL and the command that starts Redis.
 */
export async function checkRedis(redis: Redis, url: string, timeoutMs = PRODUCER_CONNECT_TIMEOUT_MS): Promise<void> {
  try {
    await within(redis.ping(), timeoutMs);
  } catch (err) {
    throw new RedisUnavailableError(
      `Cannot reach Redis at ${redactUrl(url)} (${(err as Error).message}). Start it with: ` +
        `redis-server --daemonize yes --bind 127.0.0.1 --port 6379 (or set REDIS_URL).`,
      { cause: err },
    );
  }
}
