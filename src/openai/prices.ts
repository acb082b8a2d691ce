/**
 * OpenAI's embedding prices and model defaults, and the one function that
 * turns tokens into dollars. Source: docs/openai-facts.md, "Embeddings".
 * Prices change: EMBEDDING_PRICE_USD_PER_MTOK overrides the table.
 */

/** Default price in USD per 1M input tokens, by embedding model. */
export const EMBEDDING_PRICES_USD_PER_MTOK: Readonly<Record<string, number>> = {
  'text-embedding-3-small': 0.02,
  'text-embedding-3-large': 0.13,
  'text-embedding-ada-002': 0.1,
};

/** Default output dimensions by embedding model. */
export const EMBEDDING_DEFAULT_DIMENSIONS: Readonly<Record<string, number>> = {
  'text-embedding-3-small': 1536,
  'text-embedding-3-large': 3072,
  'text-embedding-ada-002': 1536,
};

/**
 * Dollars for a number of tokens.
 * @param tokens tokens billed (or avoided)
 * @param usdPerMTok price in USD per 1,000,000 tokens
 * @returns USD
 */
export function costUsd(tokens: number, usdPerMTok: number): number {
  return (tokens * usdPerMTok) / 1_000_000;
}

/** Vector store storage (docs/openai-facts.md, "Vector stores"): the first 1 GB across all stores is free. */
export const VECTOR_STORE_FREE_BYTES = 1024 ** 3;
/** … then USD 0.10 per GB of `usage_bytes` per day. */
export const VECTOR_STORE_USD_PER_GB_DAY = 0.1;

/** The daily cost of holding `bytes` in vector stores, USD. */
export function vectorStoreDailyUsd(bytes: number): number {
  return (Math.max(0, bytes - VECTOR_STORE_FREE_BYTES) / 1024 ** 3) * VECTOR_STORE_USD_PER_GB_DAY;
}
