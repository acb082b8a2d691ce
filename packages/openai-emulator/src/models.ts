/**
 * The embedding models the emulator serves (docs/openai-facts.md, "Embeddings": models,
 * default dimensions; `dimensions` only for text-embedding-3 models).
 */

/** What the emulator knows about one model. */
export interface EmbeddingModel {
  /** Vector length when `dimensions` is not sent; also the largest allowed. */
  defaultDimensions: number;
  /** Whether the request may set `dimensions` (text-embedding-3 models only). */
  supportsDimensions: boolean;
}

/** Model id → facts. */
export const EMBEDDING_MODELS: Readonly<Record<string, EmbeddingModel>> = Object.freeze({
  'text-embedding-3-small': { defaultDimensions: 1536, supportsDimensions: true },
  'text-embedding-3-large': { defaultDimensions: 3072, supportsDimensions: true },
  'text-embedding-ada-002': { defaultDimensions: 1536, supportsDimensions: false },
});

/** The model whose window the `x-ratelimit-*` headers describe when a request names none we know. */
export const DEFAULT_EMBEDDING_MODEL = 'text-embedding-3-small';

/** Looks up a model id (exact match, as the service does). */
export function findEmbeddingModel(id: string): EmbeddingModel | undefined {
  return Object.hasOwn(EMBEDDING_MODELS, id) ? EMBEDDING_MODELS[id] : undefined;
}
