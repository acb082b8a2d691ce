/**
 * Every error class whose type is a decision, behind one index (after
 * BullMQ's src/classes/errors). Each file documents its decision:
 * - PermanentError (+ DocumentCpuLimitError, OverBudgetError, OversizeDocumentError, OversizeInputError): fail the job now;
 * - RateLimitedError: pause the queue, retry without burning an attempt;
 * - RunStateLostError (a PermanentError): a run's Redis state is gone: stop waiting for it, do not retry;
 * - PermanentFetchError / TransientFetchError: fail now / retry with backoff;
 * - DependencyUnavailableError (and lost Redis/Postgres connections): wait, retry without burning an attempt;
 * - JobDeadlineError / LeaseLostError / ShutdownError: an attempt cut short (fail / stop before paying / hand back);
 * - StartupError (+ ConfigError, ProviderMismatchError, RedisUnavailableError, …): do not start;
 * - anything else: retry with backoff until the job's attempts run out.
 */
export { asError, describeZodError, isPermanent } from './classify.ts';
export { type Dependency, DependencyUnavailableError, isConnectionError } from './dependency-error.ts';
export {
  FetchError,
  type FetchErrorDetails,
  type FetchErrorReason,
  isFetchError,
  PermanentFetchError,
  RedirectOutOfScopeError,
  SourceRootError,
  SsrfRefusedError,
  TransientFetchError,
} from './fetch-error.ts';
export { JobAbortedError, JobDeadlineError, LeaseLostError, ShutdownError } from './job-aborted-error.ts';
export { DocumentCpuLimitError } from './document-cpu-limit-error.ts';
export { OverBudgetError } from './over-budget-error.ts';
export { OversizeDocumentError } from './oversize-document-error.ts';
export { OversizeInputError } from './oversize-input-error.ts';
export { PermanentError } from './permanent-error.ts';
export { RateLimitedError } from './rate-limited-error.ts';
export { RunStateLostError } from './run-state-lost-error.ts';
export {
  ConfigError,
  DatabaseUnavailableError,
  NoProcessorError,
  ProviderMismatchError,
  RedisUnavailableError,
  StartupError,
  UnsupportedDatabaseError,
} from './startup-error.ts';
