import { PermanentError } from './permanent-error.ts';

/**
 * Decision: **fail the job now** (a {@link PermanentError}). A request larger
 * than the whole per-window token limit can never be sent, however long it
 * waits for the shared budget.
 */
export class OverBudgetError extends PermanentError {
  override name = 'OverBudgetError';
}
