/**
 * Token counting as the embeddings endpoint does it: cl100k_base for all
 * three embedding models (FACTS.md, "Embeddings": tokenizer). Special-token
 * text such as `<|endoftext|>` in an input is ordinary text to the API, so it
 * is encoded as text here instead of throwing (gpt-tokenizer's default).
 */
import { countTokens, decode } from 'gpt-tokenizer/encoding/cl100k_base';

const AS_PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

/**
 * Number of cl100k_base tokens in `text`.
 * @param text any string
 * @returns token count (0 for `""`)
 */
export function countTextTokens(text: string): number {
  return countTokens(text, AS_PLAIN_TEXT);
}

/**
 * Decodes cl100k_base token ids back to text, so a token-array input embeds
 * exactly like the string it encodes.
 * @param tokens token ids
 * @returns the text, or `undefined` when an id is not in the vocabulary
 */
export function decodeTokens(tokens: readonly number[]): string | undefined {
  try {
    return decode(tokens);
  } catch {
    return undefined;
  }
}
