/**
 * Decision: **pause the queue, retry without burning an attempt**. A 429
 * `rate_limit_exceeded` from OpenAI (docs/openai-facts.md, "Rate limits").
 * The worker wrapper pauses the whole queue for `waitMs` through BullMQ's
 * `worker.rateLimit` and hands the job back; `insufficient_quota`, also a
 * 429, is a {@link PermanentError} instead.
 */
export class RateLimitedError extends Error {
  override name = 'RateLimitedError';
  /** How long the API asked us to wait, ms (Retry-After, else the reset header). */
  readonly waitMs: number;
  /** Which limit was hit: `tokens` or `requests`. */
  readonly type: string;

  constructor(message: string, waitMs: number, type: string) {
    super(message);
    this.waitMs = waitMs;
    this.type = type;
  }
}
