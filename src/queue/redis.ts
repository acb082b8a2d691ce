/**
 * Redis connections. Workers block on Redis and must wait through outages
 * (`maxRetriesPerRequest: null`, as BullMQ requires for workers); producers
 * and the CLI fail fast instead of queueing commands forever.
 */
import { Redis } from 'ioredis';
import type { Config } from '../config/config.ts';
import { RedisUnavailableError } from '../errors/index.ts';
import { redactUrl } from '../log/logger.ts';

export type { Redis };

export type RedisRole = 'worker' | 'producer';

/**
 * How long a producer waits for Redis before giving up, ms. A reachable
 * Redis answers in milliseconds; 3 s lets a CLI user see the one-line error
 * (and the command that starts Redis) instead of a hang.
 */
const PRODUCER_CONNECT_TIMEOUT_MS = 3000;

/** Opens a connection for a role (see the file comment for the difference). */
export function createRedis(config: Config, role: RedisRole): Redis {
  if (role === 'worker') {
    return new Redis(config.redis.url, { maxRetriesPerRequest: null, enableReadyCheck: true, lazyConnect: false });
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
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (err) {
    throw new RedisUnavailableError(
      `Cannot reach Redis at ${redactUrl(url)} (${(err as Error).message}). Start it with: ` +
        `redis-server --daemonize yes --bind 127.0.0.1 --port 6379 (or set REDIS_URL).`,
      { cause: err },
    );
  } finally {
    clearTimeout(timer);
  }
}
