import { PermanentError } from './permanent-error.ts';

/**
 * Decision: **fail the job now** (a {@link PermanentError}). Extracting,
 * chunking and hashing one document ran longer than `DOCUMENT_CPU_LIMIT_MS`
 * in its worker thread, and the thread was stopped
 * (docs/design.md, "CPU limit per document"). The same bytes would take as
 * long on every attempt: retrying only spends the limit again.
 */
export class DocumentCpuLimitError extends PermanentError {
  override name = 'DocumentCpuLimitError';
  /** The document's URI. */
  readonly uri: string;
  /** The limit it went over, ms. */
  readonly limitMs: number;

  constructor(uri: string, limitMs: number) {
    super(
      `${uri}: extracting and chunking the document took over its CPU limit of ${limitMs} ms and was stopped ` +
        '(DOCUMENT_CPU_LIMIT_MS); a page that needs this long is usually pathological, e.g. megabytes of one ' +
        'repeated character. Raise DOCUMENT_CPU_LIMIT_MS if the document is real content.',
    );
    this.uri = uri;
    this.limitMs = limitMs;
  }
}
