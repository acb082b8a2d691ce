/**
 * Packs embedding inputs into requests under OpenAI's per-request limits:
 * at most `maxInputs` inputs (2048) and `maxTokens` tokens summed (300,000),
 * ../shared/openai/FACTS.md "Embeddings". Pure: no I/O, table-tested.
 */

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

/** An input over the per-input token limit: a bug upstream (the chunker). */
export class OversizeInputError extends Error {
  override name = 'OversizeInputError';
  readonly permanent = true;
  readonly itemId: string;
  constructor(item: PackItem, limit: number) {
    super(`chunk ${item.id} has ${item.tokens} tokens, over the per-input limit of ${limit}: it must be split before embedding (CHUNK_MAX_TOKENS)`);
    this.itemId = item.id;
  }
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
