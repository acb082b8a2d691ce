/**
 * Request coalescing (micro-batching) across the embed jobs of one process.
 *
 * An embed job usually carries one document's chunks: ~6 inputs and ~1,300
 * tokens. Sent on its own, every such job is one API request, so a small
 * document costs a whole request of the 3,000 RPM tier-1 allowance
 * (docs/openai-facts.md, "Rate limits") and pays the request's fixed
 * latency, budget round trips and HTTP overhead. The coalescer lets the jobs
 * that run concurrently in a process share requests: each job hands over
 * its packed request (already within OpenAI's per-request limits), the
 * coalescer waits up to `lingerMs` for others, merges them into one request
 * of at most `maxInputs` inputs and `maxTokens` tokens, and gives each job
 * back exactly its own vectors.
 *
 * Failure isolation: a 429, a 5xx after the in-job retries, a timeout, a
 * 401/403/404 or insufficient_quota concerns the account or the transport,
 * not one job's text, so every job of the request gets that error and makes
 * its own decision (pause the queue, retry, fail). A 400 may be caused by one
 * job's input: the coalescer then sends each job's part alone, so only the
 * job with the bad input fails.
 */
import { APIError } from 'openai';
import { PermanentError } from '../errors/index.ts';
import type { EmbeddingResponse, Embedder } from './embedder.ts';
import type { EmbeddingKey } from './embedding-key.ts';

export interface CoalescerOptions {
  /** Inputs per merged request (docs/openai-facts.md, "Embeddings": ≤ 2,048). */
  maxInputs: number;
  /** Tokens per merged request, cl100k_base summed over inputs (docs/openai-facts.md, "Embeddings": ≤ 300,000). */
  maxTokens: number;
  /**
   * How long the first part of a request waits for others, ms. 0 turns
   * coalescing off: every part is sent as its own request.
   */
  lingerMs: number;
}

/** One job's part of a request. */
interface Part {
  texts: string[];
  tokens: number;
  resolve: (r: EmbeddingResponse) => void;
  reject: (err: unknown) => void;
}

/** A request being filled. */
interface OpenRequest {
  target: EmbeddingKey;
  parts: Part[];
  inputs: number;
  tokens: number;
  timer: NodeJS.Timeout;
}

/** Merges concurrent jobs' embedding requests into fewer, larger ones. */
export class EmbeddingCoalescer {
  readonly embedder: Embedder;
  readonly options: CoalescerOptions;
  private readonly open = new Map<string, OpenRequest>();

  constructor(embedder: Embedder, options: CoalescerOptions) {
    this.embedder = embedder;
    this.options = options;
  }

  /**
   * Embeds `texts` (`tokens` tokens in all), possibly in one request with
   * other jobs' texts.
   * @returns this part's vectors in input order, and its share of the billed
   *   tokens (the request's `usage.prompt_tokens` split by counted tokens)
   * @throws what `Embedder.embed` throws for the request this part went in
   */
  embed(target: EmbeddingKey, texts: string[], tokens: number): Promise<EmbeddingResponse> {
    const { maxInputs, maxTokens, lingerMs } = this.options;
    if (lingerMs <= 0 || texts.length >= maxInputs || tokens >= maxTokens)
      return this.embedder.embed(target, texts, tokens);
    const key = `${target.model}:${target.dimensions}`;
    const current = this.open.get(key);
    if (current && (current.inputs + texts.length > maxInputs || current.tokens + tokens > maxTokens)) this.flush(key);
    let request = this.open.get(key);
    if (!request) {
      request = { target, parts: [], inputs: 0, tokens: 0, timer: setTimeout(() => this.flush(key), lingerMs) };
      this.open.set(key, request);
    }
    const promise = new Promise<EmbeddingResponse>((resolve, reject) =>
      request.parts.push({ texts, tokens, resolve, reject }),
    );
    request.inputs += texts.length;
    request.tokens += tokens;
    if (request.inputs === maxInputs || request.tokens === maxTokens) this.flush(key);
    return promise;
  }

  private flush(key: string): void {
    const request = this.open.get(key);
    if (!request) return;
    this.open.delete(key);
    clearTimeout(request.timer);
    void this.send(request);
  }

  private async send(request: OpenRequest): Promise<void> {
    const { target, parts } = request;
    let response: EmbeddingResponse;
    try {
      response = await this.embedder.embed(
        target,
        parts.flatMap((p) => p.texts),
        request.tokens,
      );
    } catch (err) {
      if (parts.length > 1 && isInputError(err)) {
        // One part's input may be at fault: let each part succeed or fail alone.
        await Promise.all(parts.map((p) => this.embedder.embed(target, p.texts, p.tokens).then(p.resolve, p.reject)));
      } else {
        for (const p of parts) p.reject(err);
      }
      return;
    }
    splitResponse(response, parts);
  }
}

/** A 400 from the API: the request's content, not the account, was refused. */
function isInputError(err: unknown): boolean {
  return err instanceof PermanentError && err.cause instanceof APIError && err.cause.status === 400;
}

/**
 * Hands each part its vectors (in order) and its share of the billed tokens,
 * proportional to its counted tokens; the rounding remainder goes to the
 * last part so the shares add up to exactly what was billed.
 */
export function splitResponse(
  response: EmbeddingResponse,
  parts: ReadonlyArray<Pick<Part, 'texts' | 'tokens' | 'resolve'>>,
): void {
  const counted = parts.reduce((sum, p) => sum + p.tokens, 0);
  let offset = 0;
  let billedLeft = response.promptTokens;
  parts.forEach((p, i) => {
    const last = i === parts.length - 1;
    const share = last ? billedLeft : counted > 0 ? Math.round((response.promptTokens * p.tokens) / counted) : 0;
    billedLeft -= share;
    p.resolve({ vectors: response.vectors.slice(offset, offset + p.texts.length), promptTokens: share });
    offset += p.texts.length;
  });
}
