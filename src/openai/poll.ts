/**
 * Polling OpenAI with a deadline (docs/design.md, "Labels, orphans and deadlines"):
 * a vector store file or file batch can stay `in_progress` indefinitely,
 * so no poll waits for it to finish without an end. Every poll ends by
 * `OPENAI_POLL_DEADLINE_MS`, and two of them (a file batch, then the files
 * re-attached after it) fit in the associate's own deadline.
 */

import { sleepFor } from '../runtime/deadline.ts';

/**
 * The associate's own deadline per file batch, ms: its store-creation claim
 * is taken over by another job once older than this (jobs/associate.ts),
 * and the claim is renewed before each batch, so a live associate must
 * finish a batch within it. 10 minutes: thousands of files take minutes.
 */
export const ASSOCIATE_DEADLINE_MS = 10 * 60_000;

/**
 * What a batch needs besides its two polls, ms: creating it, listing its
 * files, detaching and re-attaching the stuck ones, recording the outcomes.
 * Each is one or a few requests under `OPENAI_TIMEOUT_MS`; a minute is ample.
 */
const ASSOCIATE_SLACK_MS = 60_000;

/**
 * The largest `OPENAI_POLL_DEADLINE_MS` for an associate deadline (the lesser
 * of {@link ASSOCIATE_DEADLINE_MS} and `JOB_DEADLINES` associate=): two
 * polls and the slack fit in it, ms.
 */
export function maxPollDeadlineMs(associateDeadlineMs: number): number {
  return Math.max(0, Math.floor((associateDeadlineMs - ASSOCIATE_SLACK_MS) / 2));
}

/**
 * First delay between polls and its cap, ms (backoff ×1.5). A small batch
 * finishes in well under a second, so the first look comes early; the cap
 * keeps a long batch's polls far below the per-store request limit
 * (docs/openai-facts.md, "Vector stores": 300 writes/min; reads are not
 * writes, but stay polite).
 */
export const POLL_FIRST_MS = 100;
export const POLL_MAX_MS = 5000;

/** How a poll ended. */
export interface PollOutcome<T> {
  /** The last value read. */
  value: T;
  /** True when the deadline passed before `done` held. */
  timedOut: boolean;
}

/**
 * Reads `read()` with backoff until `done` holds or `deadline` passes. The
 * last read happens at the deadline at the latest (a sleep never runs past
 * it), so a poll ends within one read of its deadline.
 * @param deadline epoch ms
 * @param what names the poll when `signal` (the job's: src/runtime/deadline.ts) aborts a sleep
 * @throws the abort reason of `signal` (a JobAbortedError naming the poll)
 */
export async function pollUntil<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  deadline: number,
  what = 'an OpenAI poll',
  signal?: AbortSignal,
): Promise<PollOutcome<T>> {
  let delay = POLL_FIRST_MS;
  for (;;) {
    const value = await read();
    if (done(value)) return { value, timedOut: false };
    const left = deadline - Date.now();
    if (left <= 0) return { value, timedOut: true };
    await sleepFor(what, Math.min(delay, left), signal);
    delay = Math.min(POLL_MAX_MS, Math.ceil(delay * 1.5));
  }
}
