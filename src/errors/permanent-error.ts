/**
 * Decision: **fail the job now**. Bad input or a refusal that no retry can
 * fix (a malformed source, a 400 from OpenAI, `insufficient_quota`). The
 * worker wrapper (src/runtime/workers.ts) turns it into BullMQ's
 * UnrecoverableError, so the job goes to the failed set at once with this
 * message as its reason, and the rest of the run goes on.
 *
 * Subclasses only add detail; the decision is the class.
 */
export class PermanentError extends Error {
  override name = 'PermanentError';
  /** Read by {@link isPermanent}; set on every subclass too. */
  readonly permanent = true;
}
