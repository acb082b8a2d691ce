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
import type { AllocatedIntent, SpendIntent } from '../store/embeddings.ts';
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
  /**
   * Writes the ledger rows of a request's parts (their `intent`s) right
   * before it is sent, after every part's `beforeSend`. Without it, `intent`
   * is ignored.
   */
  ledger?: IntentLedger;
}

/**
 * Where the coalescer writes spend intents (src/store/embeddings.ts). Two
 * steps, so every part holds its row's id before the row is written: an
 * INSERT that fails without a reply may still have committed, and the part
 * must be able to void that row by id.
 */
export interface IntentLedger {
  /** Draws `n` row ids. */
  allocate(n: number): Promise<string[]>;
  /** Writes the rows, one statement for the request's parts. */
  write(rows: AllocatedIntent[]): Promise<void>;
}

/** What a caller may attach to its part (src/embed/embedder.ts `SendOptions`). */
export interface PartOptions {
  /**
   * Aborts this part while it is not yet sent (waiting to be merged or for
   * the budget): it is dropped and its promise rejects with the reason. Once
   * sent, the request finishes: it is paid for.
   */
  signal?: AbortSignal;
  /**
   * Called after the budget is granted, right before the request is sent; a
   * throw drops this part (it rejects with that error) and the rest are sent
   * without it. Embed jobs check here that they still hold their claims.
   */
  beforeSend?: () => Promise<void>;
  /** Called when a sent attempt ended unbilled and will be retried (`SendOptions.afterUnbilled`). */
  afterUnbilled?: () => Promise<void>;
  /** This part's ledger row, written with the other parts' as the request goes out (`ledger`). */
  intent?: SpendIntent;
  /**
   * Hands over the id of `intent`'s row before the row is written: if the
   * write fails, the row may exist all the same, and the part voids it by id.
   */
  onIntent?: (id: string) => void;
}

/** One job's part of a request. */
interface Part extends PartOptions {
  texts: string[];
  tokens: number;
  resolve: (r: EmbeddingResponse) => void;
  reject: (err: unknown) => void;
  /** Settled (rejected on abort or check) or handed to the HTTP request. */
  done: boolean;
  sent: boolean;
}

/** A request being filled. */
interface OpenRequest {
  target: EmbeddingKey;
  parts: Part[];
  inputs: number;
  tokens: number;
  timer: NodeJS.Timeout;
}

/** Thrown by a merged request's check when parts left it: the rest is sent again without them. */
class PartsLeft extends Error {}

/**
 * Merges the embedding requests of concurrent jobs into shared API requests
 * (see the file comment).
 */
export class EmbeddingCoalescer {
  readonly embedder: Embedder;
  readonly options: CoalescerOptions;
  private readonly open = new Map<string, OpenRequest>();

  constructor(embedder: Embedder, options: CoalescerOptions) {
    this.embedder = embedder;
    this.options = options;
  }

  /**
   * Embeds `texts` (one job's packed request, `tokens` by cl100k_base),
   * possibly merged with other jobs' parts into one API request.
   * @returns this part's vectors, in order, and its share of the billed tokens.
   * @throws what the request threw (see the file comment for who gets which
   *   error), the signal's reason when aborted before sending, or what
   *   `beforeSend` threw.
   */
  embed(target: EmbeddingKey, texts: string[], tokens: number, opts: PartOptions = {}): Promise<EmbeddingResponse> {
    const { maxInputs, maxTokens, lingerMs } = this.options;
    if (lingerMs <= 0 || texts.length >= maxInputs || tokens >= maxTokens) {
      // Alone: a request of its own, sent now, through the same checks and ledger write.
      const alone = new Promise<EmbeddingResponse>((resolve, reject) => {
        const part: Part = { texts, tokens, resolve, reject, done: false, sent: false, ...opts };
        opts.signal?.addEventListener('abort', () => this.cancel(part), { once: true });
        if (opts.signal?.aborted) this.cancel(part);
        void this.send(target, [part]);
      });
      return alone;
    }
    const key = `${target.model}:${target.dimensions}`;
    const current = this.open.get(key);
    if (current && (current.inputs + texts.length > maxInputs || current.tokens + tokens > maxTokens)) this.flush(key);
    let request = this.open.get(key);
    if (!request) {
      request = { target, parts: [], inputs: 0, tokens: 0, timer: setTimeout(() => this.flush(key), lingerMs) };
      this.open.set(key, request);
    }
    const open = request;
    const promise = new Promise<EmbeddingResponse>((resolve, reject) => {
      const part: Part = { texts, tokens, resolve, reject, done: false, sent: false, ...opts };
      open.parts.push(part);
      opts.signal?.addEventListener('abort', () => this.cancel(part), { once: true });
      if (opts.signal?.aborted) this.cancel(part);
    });
    open.inputs += texts.length;
    open.tokens += tokens;
    if (open.inputs === maxInputs || open.tokens === maxTokens) this.flush(key);
    return promise;
  }

  /** Drops a part that was not sent yet. */
  private cancel(part: Part): void {
    if (part.done || part.sent) return;
    part.done = true;
    part.reject(part.signal?.reason);
    for (const [key, request] of this.open) {
      const i = request.parts.indexOf(part);
      if (i < 0) continue;
      request.parts.splice(i, 1);
      request.inputs -= part.texts.length;
      request.tokens -= part.tokens;
      if (request.parts.length === 0) {
        clearTimeout(request.timer);
        this.open.delete(key);
      }
    }
  }

  private flush(key: string): void {
    const request = this.open.get(key);
    if (!request) return;
    this.open.delete(key);
    clearTimeout(request.timer);
    void this.send(request.target, request.parts);
  }

  private async send(target: EmbeddingKey, all: Part[]): Promise<void> {
    const parts = all.filter((p) => !p.done);
    if (!parts.length) return;
    // The budget wait ends when every part was dropped meanwhile.
    const allGone = new AbortController();
    const watch = () => {
      if (parts.every((p) => p.done)) allGone.abort(new PartsLeft('every part left the request'));
    };
    for (const p of parts) p.signal?.addEventListener('abort', watch, { once: true });
    const beforeSend = async () => {
      const checks = await Promise.all(
        parts.map((p) =>
          p.done
            ? undefined
            : (p.beforeSend?.().then(
                () => undefined,
                (e: unknown) => e,
              ) ?? undefined),
        ),
      );
      let left = false;
      parts.forEach((p, i) => {
        if (checks[i] !== undefined && !p.done) {
          p.done = true;
          p.reject(checks[i]);
        }
        if (p.done) left = true;
      });
      if (left) throw new PartsLeft('parts left the request before it was sent');
      // On the wire from here: an abort no longer drops a part (see afterUnbilled for the way back).
      for (const p of parts) p.sent = true;
      const writing = parts.filter((p) => p.intent !== undefined);
      const { ledger } = this.options;
      if (ledger && writing.length) {
        const ids = await ledger.allocate(writing.length);
        writing.forEach((p, i) => {
          p.onIntent?.(ids[i]!);
        });
        await ledger.write(writing.map((p, i) => ({ ...p.intent!, id: ids[i]! })));
      }
    };
    // The attempt ended unbilled and the retry is not sent yet: the parts are
    // no longer on the wire, so an abort (a draining worker, a deadline) may
    // drop them again while the retry backs off or waits for the budget,
    // which can take minutes. An abort that came while they were on the wire
    // drops them now.
    const afterUnbilled = async () => {
      const wereSent = parts.filter((p) => p.sent);
      for (const p of parts) p.sent = false;
      await Promise.all(wereSent.map((p) => p.afterUnbilled?.().catch(() => {})));
      for (const p of parts) if (p.signal?.aborted) this.cancel(p);
      watch();
    };
    let response: EmbeddingResponse;
    try {
      response = await this.embedder.embed(
        target,
        parts.flatMap((p) => p.texts),
        parts.reduce((sum, p) => sum + p.tokens, 0),
        { signal: allGone.signal, beforeSend, afterUnbilled },
      );
    } catch (err) {
      if (err instanceof PartsLeft) {
        await this.send(target, parts);
        return;
      }
      if (parts.length > 1 && isInputError(err)) {
        // One part's input may be at fault: let each part succeed or fail alone.
        // Each part alone, through the checks and the ledger write again (a
        // 400 is unbilled: its beforeSend voids the refused request's row).
        for (const p of parts) p.sent = false;
        await Promise.all(parts.map((p) => this.send(target, [p])));
      } else {
        for (const p of parts) if (!p.done || p.sent) p.reject(err);
      }
      return;
    } finally {
      for (const p of parts) p.signal?.removeEventListener('abort', watch);
    }
    splitResponse(response, parts);
  }
}

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
