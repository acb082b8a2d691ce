/**
 * Packs embedding inputs into requests under OpenAI's per-request limits:
 * at most `maxInputs` inputs (2048) and `maxTokens` tokens summed (300,000),
 * docs/openai-facts.md, "Embeddings". Pure: no I/O, table-tested.
 */
import { OversizeInputError } from '../errors/index.ts';

/**
 * The largest share of the per-minute token budget (EMBEDDING_TPM) one
 * request may take. The shared budget is spent in whole requests: a request
 * waits until all its tokens fit the rolling window, so capacity smaller than
 * every waiting request expires unused at each window's edge, and the bigger
 * the requests the more of it. Measured with `npm run bench:embed --
 * --processes 4 --docs-per-job 8` at tier 1 (1M TPM): requests of ~133k
 * tokens (packed up to OpenAI's 300,000) filled the complete windows after
 * the first to 0.85 of TPM and the API work took 305 s; capped at 50,000
 * (~38k each) 0.97 and 245 s; capped at 1/50 = 20,000 (~14k each) 0.99 and
 * 245 s, as with one small document per job. 20,000 tokens is ~60 typical
 * chunks, and 60× the TPM ÷ RPM ratio, so requests never make RPM the
 * binding limit.
 */
export const MAX_REQUEST_SHARE_OF_TPM = 1 / 50;

/**
 * Tokens per request the packer and the coalescer aim for: OpenAI's
 * per-request limit, lowered to `MAX_REQUEST_SHARE_OF_TPM` of the token
 * budget, but never below one whole input so every valid chunk still fits.
 * @param limits `maxRequestTokens` (docs/openai-facts.md, "Embeddings":
 *   300,000), `maxInputTokens` (same: 8,192), `tpm` tokens per rate-limit
 *   window, all in tokens
 */
export function requestTokenLimit(limits: { maxRequestTokens: number; maxInputTokens: number; tpm: number }): number {
  const share = Math.floor(limits.tpm * MAX_REQUEST_SHARE_OF_TPM);
  return Math.min(limits.maxRequestTokens, Math.max(limits.maxInputTokens, share));
}

/** One input to pack: an id and its token count (cl100k_base). */
export interface PackItem {
  id: string;
  tokens: number;
}

export interface PackLimits {
  /** Inputs per request. */
  maxInputs: number;
  /** Tokens per request, summed over inputs. */
  maxTokens: number;
  /** Tokens per input; an item over it is rejected, never truncated. */
  maxInputTokens: number;
}

export interface PackedRequest<T extends PackItem> {
  items: T[];
  tokens: number;
}

/**
 * First-fit decreasing: largest items first, each into the first request
 * with room, so requests fill up to the token limit when tokens bind and
 * to the input limit when the count binds.
 * @throws OversizeInputError for an item over `maxInputTokens` or an empty one.
 * @returns requests in creation order; every item appears exactly once.
 */
export function packRequests<T extends PackItem>(items: readonly T[], limits: PackLimits): PackedRequest<T>[] {
  const perInput = Math.min(limits.maxInputTokens, limits.maxTokens);
  for (const item of items) {
    if (!(item.tokens > 0) || item.tokens > perInput) throw new OversizeInputError(item, perInput);
  }
  const sorted = [...items].sort((a, b) => b.tokens - a.tokens || a.id.localeCompare(b.id));
  const requests: PackedRequest<T>[] = [];
  for (const item of sorted) {
    let target = requests.find((r) => r.items.length < limits.maxInputs && r.tokens + item.tokens <= limits.maxTokens);
    if (!target) {
      target = { items: [], tokens: 0 };
      requests.push(target);
    }
    target.items.push(item);
    target.tokens += item.tokens;
  }
  return requests;
}
