import { PermanentError } from './permanent-error.ts';

/**
 * Decision: **fail the job now** (a {@link PermanentError}). An input over
 * the per-input token limit (docs/openai-facts.md, "Embeddings") is a bug
 * upstream — the chunker must split it — and the API would answer 400.
 */
export class OversizeInputError extends PermanentError {
  override name = 'OversizeInputError';
  /** The id of the packed item (a chunk hash). */
  readonly itemId: string;

  constructor(item: { id: string; tokens: number }, limit: number) {
    super(
      `chunk ${item.id} has ${item.tokens} tokens, over the per-input limit of ${limit}: ` +
        'it must be split before embedding (CHUNK_MAX_TOKENS)',
    );
    this.itemId = item.id;
  }
}
