import { PermanentError } from './permanent-error.ts';

/**
 * Decision: **fail the job now** (a {@link PermanentError}). An inline
 * document whose body is over CRAWL_MAX_BYTES, refused by the producer
 * (src/ingest/sources.ts) and again by the crawl worker: the same limit as a
 * fetched page. The message names the document, its size and the limit.
 */
export class OversizeDocumentError extends PermanentError {
  override name = 'OversizeDocumentError';
}
