/**
 * Token counting as the embeddings endpoint does it: cl100k_base for all
 * three embedding models (docs/openai-facts.md, "Embeddings": tokenizer). Special-token
 * text such as `<|endoftext|>` in an input is ordinary text to the API, so it
 * is encoded as text here instead of throwing (gpt-tokenizer's default).
 */
import { countTokens, decode, encode } from 'gpt-tokenizer/encoding/cl100k_base';

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

/** Longest run of non-whitespace encoded in one piece (see {@link encodeText}). */
const MAX_RUN = 1000;

/**
 * cl100k_base token ids of `text` (special-token text encoded as plain text),
 * for whole files. BPE time grows with the square of a word's length (100k
 * letters without a space take seconds), so runs of more than 1000
 * non-whitespace characters are encoded in 1000-character pieces: ordinary
 * text encodes exactly as with `encode()`, and a pathological file (one huge
 * "word") stays linear, at the price of a few extra tokens.
 * @param text any string
 */
export function encodeText(text: string): number[] {
  const pieces = splitLongRuns(text, MAX_RUN);
  if (pieces.length === 1) return encode(text, AS_PLAIN_TEXT);
  const out: number[] = [];
  for (const piece of pieces) for (const id of encode(piece, AS_PLAIN_TEXT)) out.push(id);
  return out;
}

/** Cuts `text` so that no piece has a run of more than `max` non-whitespace code units (never inside a surrogate pair). */
function splitLongRuns(text: string, max: number): string[] {
  const pieces: string[] = [];
  let start = 0;
  let run = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
      run = 0;
      continue;
    }
    if (++run < max) continue;
    let cut = i + 1;
    const next = text.charCodeAt(cut);
    if (next >= 0xdc00 && next <= 0xdfff && cut - 1 > start) cut--; // keep a surrogate pair together
    pieces.push(text.slice(start, cut));
    start = cut;
    run = i + 1 - cut;
  }
  if (start < text.length || pieces.length === 0) pieces.push(text.slice(start));
  return pieces;
}
