/**
 * What identifies an embedding besides its chunk hash: the model and the
 * output dimensions. Embeddings are content-addressed by
 * (model, dimensions, chunk hash) — docs/vocabulary.md, "embedding" — so
 * every collection with the same text shares one row.
 */
export interface EmbeddingKey {
  /** OpenAI model name, e.g. `text-embedding-3-small`. */
  model: string;
  /** Output dimensions; sent to the API only for models that accept `dimensions` (text-embedding-3-*). */
  dimensions: number;
}

/** The key as one string (`model:dimensions`), for Redis claim keys and log fields. */
export function embeddingScope(key: EmbeddingKey): string {
  return `${key.model}:${key.dimensions}`;
}
