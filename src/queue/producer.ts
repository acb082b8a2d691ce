/**
 * The one enqueue path: validates each payload against its queue's schema,
 * records the job in its run before adding it (so a crash in between leaves
 * a job the retry re-adds, never an untracked one), and uses deterministic
 * job ids (./job-ids.ts) so a repeated add of the same work is a no-op in
 * BullMQ. Plain jobs go through {@link Producer.add}, parent/children flows
 * (sync's associate over its uploads) through {@link Producer.addFlow}.
 */
import { FlowProducer } from 'bullmq';
import type { RunTracker } from '../runs/tracker.ts';
import { PAYLOAD_SCHEMAS, type Payloads, type QueueName, type SchedulePayload } from './contracts.ts';
import { jobKey } from './job-ids.ts';
import type { Queues } from './queues.ts';
import type { Redis } from './redis.ts';

/** One job to add: a deterministic id (no ':', BullMQ reserves it) and its payload. */
export interface JobRequest<Q extends QueueName> {
  jobId: string;
  payload: Payloads[Q];
}

/** A job of a flow: which queue, its id and payload. */
export interface FlowJob<Q extends QueueName = QueueName> extends JobRequest<Q> {
  queue: Q;
}

/** Where flows are added: the queues' connection and key prefix. */
export interface FlowTarget {
  connection: Redis;
  prefix: string;
}

export class Producer {
  readonly queues: Queues;
  readonly tracker: RunTracker;
  readonly #flows: FlowTarget | undefined;

  /** @param flows where {@link addFlow} adds flows; without it, addFlow throws. */
  constructor(queues: Queues, tracker: RunTracker, flows?: FlowTarget) {
    this.queues = queues;
    this.tracker = tracker;
    this.#flows = flows;
  }

  /**
   * Adds jobs of one queue, recording them in `runId` first when given.
   * @returns the job ids, in order.
   * @throws ZodError when a payload does not match its schema; Error for an id with ':'.
   */
  async add<Q extends QueueName>(queue: Q, jobs: Array<JobRequest<Q>>, runId?: string): Promise<string[]> {
    if (!jobs.length) return [];
    const parsed = jobs.map((j) => validated(queue, j));
    if (runId)
      await this.tracker.addJobs(
        runId,
        parsed.map((j) => jobKey(queue, j.jobId)),
      );
    await this.queues[queue].addBulk(parsed.map((j) => ({ name: queue, data: j.payload, opts: { jobId: j.jobId } })));
    return parsed.map((j) => j.jobId);
  }

  /**
   * Creates or updates the BullMQ job scheduler `id` on the schedule queue
   * (docs/vocabulary.md, "job scheduler"): idempotent, and one tick per
   * period however many processes upsert it. The payload is every tick's data.
   * @throws ZodError when the payload does not match the schedule schema.
   */
  async upsertScheduler(id: string, repeat: ScheduleRepeat, payload: SchedulePayload): Promise<void> {
    await this.upsertQueueScheduler('schedule', id, repeat, payload);
  }

  /**
   * Creates or updates the job scheduler `id` on any queue (the cleanup
   * queue's daily run), as {@link upsertScheduler} does on the schedule queue.
   * @throws ZodError when the payload does not match the queue's schema.
   */
  async upsertQueueScheduler<Q extends QueueName>(
    queue: Q,
    id: string,
    repeat: ScheduleRepeat,
    payload: Payloads[Q],
  ): Promise<void> {
    const { payload: data } = validated(queue, { jobId: id, payload });
    await this.queues[queue].upsertJobScheduler(id, repeat, { name: queue, data });
  }

  /** Removes the job scheduler `id` of a queue. @returns false when there was none. */
  async removeQueueScheduler(queue: QueueName, id: string): Promise<boolean> {
    return this.queues[queue].removeJobScheduler(id);
  }

  /** Removes the job scheduler `id` and its next tick. @returns false when there was none. */
  async removeScheduler(id: string): Promise<boolean> {
    return this.queues.schedule.removeJobScheduler(id);
  }

  /**
   * Adds a BullMQ flow: `parent` runs once every child has finished. A failed
   * child does not block its parent (`ignoreDependencyOnFailure`): the parent
   * reads the failures and reports them. Every job is recorded in `runId` first.
   * @throws ZodError when a payload does not match its schema; Error for an id with ':'.
   */
  async addFlow(parent: FlowJob, children: FlowJob[], runId: string): Promise<void> {
    if (!this.#flows) throw new Error('this Producer was built without a flow connection');
    const p = validated(parent.queue, parent);
    const kids = children.map((c) => ({ queue: c.queue, ...validated(c.queue, c) }));
    await this.tracker.addJobs(runId, [jobKey(parent.queue, p.jobId), ...kids.map((c) => jobKey(c.queue, c.jobId))]);
    const flow = new FlowProducer({ connection: this.#flows.connection, prefix: this.#flows.prefix });
    try {
      await flow.add({
        name: parent.queue,
        queueName: parent.queue,
        data: p.payload,
        opts: { jobId: p.jobId, ...this.queues[parent.queue].defaultJobOptions },
        children: kids.map((c) => ({
          name: c.queue,
          queueName: c.queue,
          data: c.payload,
          opts: { jobId: c.jobId, ignoreDependencyOnFailure: true, ...this.queues[c.queue].defaultJobOptions },
        })),
      });
    } finally {
      await flow.close();
    }
  }
}

/** When a job scheduler fires: a cron pattern (with its time zone) or a fixed period, ms. */
export type ScheduleRepeat = { pattern: string; tz?: string } | { every: number };

function validated<Q extends QueueName>(queue: Q, job: JobRequest<Q>): JobRequest<Q> {
  if (job.jobId.includes(':')) throw new Error(`job id ${job.jobId} contains ':' (BullMQ reserves it)`);
  return { jobId: job.jobId, payload: PAYLOAD_SCHEMAS[queue].parse(job.payload) as Payloads[Q] };
}
