/**
 * Waiting in tests, always with a deadline: a condition polled until it
 * holds, and a schedule tick until it ends.
 */
import type { Queue } from 'bullmq';
import type { TickResult } from '../../src/queue/contracts.ts';

/** Polls `fn` every 100 ms until it returns something other than undefined. @throws after `timeoutMs`, naming `what` */
export async function until<T>(fn: () => Promise<T | undefined>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Waits until a schedule tick has completed or failed.
 * @returns its state and what it returned (completed) or its reason (failed)
 * @throws when it is still running after `timeoutMs`
 */
export async function tickOutcome(
  queue: Queue,
  jobId: string,
  timeoutMs = 60_000,
): Promise<{ state: string; result?: TickResult; error?: string }> {
  return until(
    async () => {
      // The state first, then the job: a job read before it completed has no return value yet.
      const state = await queue.getJobState(jobId);
      if (state !== 'completed' && state !== 'failed') return undefined;
      const job = await queue.getJob(jobId);
      return state === 'completed'
        ? { state, result: job!.returnvalue as TickResult }
        : { state, error: job!.failedReason };
    },
    `tick ${jobId}`,
    timeoutMs,
  );
}
