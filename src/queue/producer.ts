/**
 * Enqueues jobs: validates the payload against its queue's schema, records
 * the job in its run before adding it (so a crash in between leaves a job
 * the retry re-adds, never an untracked one), and uses deterministic job ids
 * so a repeated add of the same work is a no-op in BullMQ.
 */
import { PAYLOAD_SCHEMAS, type Payloads } from '../../jobs/payloads.ts';
import type { RunTracker } from '../runs/tracker.ts';
import type { QueueName, Queues } from './queues.ts';

/** `queue/jobId`: how runs name their jobs. */
export function jobKey(queue: QueueName, jobId: string): string {
  return `${queue}/${jobId}`;
}

export function parseJobKey(key: string): { queue: QueueName; jobId: string } {
  const i = key.indexOf('/');
  return { queue: key.slice(0, i) as QueueName, jobId: key.slice(i + 1) };
}

export interface JobRequest<Q extends QueueName> {
  queue: Q;
  /** Deterministic id: the same work always gets the same id. No ':' (BullMQ reserves it). */
  jobId: string;
  payload: Payloads[Q];
}

export class Producer {
  readonly queues: Queues;
  readonly tracker: RunTracker;

  constructor(queues: Queues, tracker: RunTracker) {
    this.queues = queues;
    this.tracker = tracker;
  }

  /**
   * Adds jobs of one queue, recording them in `runId` first when given.
   * @throws ZodError when a payload does not match its schema.
   */
  async add<Q extends QueueName>(queue: Q, jobs: Array<{ jobId: string; payload: Payloads[Q] }>, runId?: string): Promise<string[]> {
    if (!jobs.length) return [];
    const schema = PAYLOAD_SCHEMAS[queue];
    const parsed = jobs.map((j) => {
      if (j.jobId.includes(':')) throw new Error(`job id ${j.jobId} contains ':'`);
      return { jobId: j.jobId, payload: schema.parse(j.payload) };
    });
    if (runId) await this.tracker.addJobs(runId, parsed.map((j) => jobKey(queue, j.jobId)));
    await this.queues[queue].addBulk(parsed.map((j) => ({ name: queue, data: j.payload, opts: { jobId: j.jobId } })));
    return parsed.map((j) => j.jobId);
  }
}
