/**
 * Chunking as a vector store does it: windows of `max_chunk_size_tokens`
 * cl100k_base tokens that overlap by `chunk_overlap_tokens` (docs/openai-facts.md,
 * "Vector stores": auto = 800 / 400).
 */
import { decodeTokens } from './tokens.ts';
import type { ChunkingStrategy } from './validate.ts';

/**
 * Splits token ids into overlapping windows and decodes each.
 * @param text the text the ids encode (returned whole when it fits one chunk)
 * @param tokens cl100k_base ids of `text`
 * @returns chunk texts in order (one chunk for a text that fits)
 */
export function chunkTokens(text: string, tokens: readonly number[], strategy: ChunkingStrategy): string[] {
  const max = strategy.maxChunkSizeTokens;
  if (tokens.length <= max) return [text];
  const step = Math.max(1, max - strategy.chunkOverlapTokens);
  const chunks: string[] = [];
  for (let start = 0; ; start += step) {
    const slice = tokens.slice(start, start + max);
    chunks.push(decodeTokens(slice) ?? '');
    if (start + max >= tokens.length) break;
  }
  return chunks;
}
