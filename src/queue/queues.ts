/**
 * The five BullMQ queues and their default job options. Completed and failed
 * jobs are trimmed by age and count so Redis does not grow without bound;
 * failed jobs are kept longer so their reasons can be read and retried.
 */
import { Queue, type DefaultJobOptions } from 'bullmq';
import type { Config } from '../config/config.ts';
import { QUEUE_NAMES, type QueueName } from './contracts.ts';
import type { Redis } from './redis.ts';

export type Queues = Record<QueueName, Queue>;

/** Default options of every job: retries with exponential backoff and bounded retention. */
export function defaultJobOptions(config: Config): DefaultJobOptions {
  return {
    attempts: config.jobs.attempts,
    backoff: { type: 'exponential', delay: config.jobs.backoffMs },
    removeOnComplete: config.jobs.keepCompleted,
    removeOnFail: config.jobs.keepFailed,
  };
}

/** Opens every queue on one shared connection. */
export function createQueues(config: Config, connection: Redis): Queues {
  const entries = QUEUE_NAMES.map((name) => [
    name,
    new Queue(name, { connection, prefix: config.redis.prefix, defaultJobOptions: defaultJobOptions(config) }),
  ]);
  return Object.fromEntries(entries) as Queues;
}

export async function closeQueues(queues: Queues): Promise<void> {
  await Promise.all(Object.values(queues).map((q) => q.close()));
}
