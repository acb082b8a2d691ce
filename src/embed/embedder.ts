/**
 * The embeddings call with every policy around it:
 * - the shared RPM/TPM budget is reserved before the request is sent;
 * - 5xx, timeouts and dropped connections get a small p-retry budget with
 *   jitter inside the job (then BullMQ's attempts with backoff take over);
 * - a 429 rate_limit_exceeded becomes RateLimitedError with the wait the API
 *   asked for, so the worker pauses the whole queue instead of retrying;
 * - 400/401/403/404 and 429 insufficient_quota are PermanentError with the
 *   API's own message: no retry storm;
 * - response headers recalibrate the budget.
 * The SDK's own retries stay off (OPENAI_MAX_RETRIES=0) so retries don't multiply.
 */
import os from 'node:os';
import { APIError } from 'openai';
import pRetry, { AbortError } from 'p-retry';
import { msSinceHeaders, type OpenAI } from '../openai/client.ts';
import { processingMs, readRateLimitHeaders } from '../openai/rate-limit-headers.ts';
import { PermanentError, RateLimitedError } from '../errors/index.ts';
import { classifyOpenAIError } from '../openai/errors.ts';
import type { SharedBudget } from '../ratelimit/budget.ts';
import type { EmbeddingKey } from './embedding-key.ts';
import {
  embeddingBatchInputs,
  embeddingBatchTokens,
  embeddingBudgetWaitSeconds,
  embeddingRateLimitedTotal,
  embeddingRequestsTotal,
} from '../metrics/metrics.ts';

export interface EmbeddingResponse {
  /**
   * One vector per input, in input order: float32, as the API computed them
   * (decoded from `encoding_format: base64`, no widening to JS numbers).
   */
  vectors: Float32Array[];
  /** Tokens billed, from `usage.prompt_tokens`. */
  promptTokens: number;
}

/**
 * How long ago, at the latest, the API counted a request against its rate
 * limit, ms: its processing time (`openai-processing-ms`) plus the time
 * since its response headers arrived. 0 when neither is known.
 */
function msSinceCounted(headers: Headers | undefined): number {
  return processingMs(headers) + msSinceHeaders(headers);
}

function acceptsDimensions(model: string): boolean {
  return model.startsWith('text-embedding-3');
}

/**
 * The createEmbedding body: `dimensions` only for models that accept it.
 * `encoding_format: base64` is set explicitly: the SDK then hands back the
 * API's base64 string untouched instead of converting every float32 into a
 * JS number array (its default path, and the worker's busiest function in a
 * CPU profile of bench:embed), and `decodeEmbedding` makes a Float32Array
 * view of the bytes.
 */
function requestBody(target: EmbeddingKey, texts: string[]) {
  return {
    model: target.model,
    input: texts,
    encoding_format: 'base64' as const,
    ...(acceptsDimensions(target.model) ? { dimensions: target.dimensions } : {}),
  };
}

/**
 * Decodes one `encoding_format: base64` embedding: little-endian float32
 * bytes (the API's layout). On little-endian platforms (all but s390x) the
 * result is a view of the decoded bytes, without a copy.
 * @throws Error when the bytes are not a whole number of float32 values
 */
export function decodeEmbedding(base64: string): Float32Array {
  const bytes = Buffer.from(base64, 'base64');
  if (bytes.length % 4 !== 0)
    throw new Error(`a base64 embedding decodes to ${bytes.length} bytes, not a whole number of float32 values`);
  // A Float32Array view needs a 4-byte-aligned offset (Buffer's shared pool
  // does not promise one) and the platform's byte order.
  const native = os.endianness() === 'LE' ? bytes : Buffer.from(bytes).swap32();
  const aligned = native.byteOffset % 4 === 0 ? native : Buffer.from(native);
  return new Float32Array(aligned.buffer, aligned.byteOffset, aligned.length / 4);
}

function statusLabel(err: unknown): string {
  if (err instanceof APIError && err.status !== undefined) return String(err.status);
  return 'error';
}

/** Per-request options of {@link Embedder.embed}. */
export interface SendOptions {
  /** Aborts the budget wait and the retries (never a request already sent). */
  signal?: AbortSignal;
  /**
   * Runs once the budget is granted, before each send; a throw releases the
   * tokens and ends the call with that error, unsent.
   */
  beforeSend?: () => Promise<void>;
  /**
   * Runs as soon as a sent attempt ends unbilled and will be retried (answered
   * 5xx, or the connection dropped), before the retry's backoff and budget
   * wait: an embed job voids that attempt's ledger row here, so a process
   * killed while the retry waits leaves no row for tokens nobody billed.
   * A throw is ignored (the next `beforeSend` voids it again).
   */
  afterUnbilled?: () => Promise<void>;
}

export interface EmbedderOptions {
  /** Shared budget; none means no client-side limiting (tests of the raw call). */
  budget?: SharedBudget;
  /** In-job retries of 5xx/timeouts/dropped connections. Default 2. */
  retries?: number;
  /** First in-job retry delay, ms. Default 500. */
  retryMinMs?: number;
}

/** Embeds packed requests for one model under the shared budget. */
export class Embedder {
  readonly openai: OpenAI;
  readonly options: EmbedderOptions;

  constructor(openai: OpenAI, options: EmbedderOptions = {}) {
    this.openai = openai;
    this.options = options;
  }

  /**
   * Embeds `texts` in one request of `tokens` tokens (cl100k_base, summed).
   * @throws PermanentError (never retry), RateLimitedError (pause, then retry), or a transient error.
   */
  async embed(
    target: EmbeddingKey,
    texts: string[],
    tokens: number,
    opts: SendOptions = {},
  ): Promise<EmbeddingResponse> {
    const { budget } = this.options;
    embeddingBatchInputs.observe({ model: target.model }, texts.length);
    embeddingBatchTokens.observe({ model: target.model }, tokens);
    return pRetry(
      async () => {
        const granted = budget ? await budget.reserve(tokens, opts.signal) : undefined;
        if (granted) embeddingBudgetWaitSeconds.observe({ model: target.model }, granted.waitedMs / 1000);
        try {
          opts.signal?.throwIfAborted();
          await opts.beforeSend?.();
        } catch (err) {
          // Not sent: give the tokens back and do not retry.
          if (budget && granted) await budget.release(granted).catch(() => {});
          throw new AbortError(err instanceof Error ? err : new Error(String(err)));
        }
        let sent: { data: Parameters<typeof toResponse>[0]; headers: Headers };
        try {
          const { data, response } = await this.openai.embeddings.create(requestBody(target, texts)).withResponse();
          embeddingRequestsTotal.inc({ model: target.model, status: String(response.status) });
          sent = { data, headers: response.headers };
        } catch (err) {
          embeddingRequestsTotal.inc({ model: target.model, status: statusLabel(err) });
          const classified = classifyOpenAIError(err);
          if (classified instanceof RateLimitedError) {
            embeddingRateLimitedTotal.inc({ model: target.model, type: classified.type });
            if (budget && granted) {
              // The API did not count this request; what it did count (others'
              // use of the same organization) comes from the 429's headers.
              await budget.release(granted).catch(() => {});
              const headers = (err as { headers?: Headers }).headers;
              if (headers) await this.recalibrate(budget, headers).catch(() => {});
            }
            throw new AbortError(classified);
          }
          // Anything else may have been counted: keep the reservation, from
          // when the API answered (minus its processing time, if it said).
          if (budget && granted)
            await budget.restamp(granted, msSinceCounted((err as { headers?: Headers }).headers)).catch(() => {});
          if (classified instanceof PermanentError) {
            if (/insufficient_quota/.test(classified.message))
              embeddingRateLimitedTotal.inc({ model: target.model, type: 'insufficient_quota' });
            throw new AbortError(classified);
          }
          await opts.afterUnbilled?.().catch(() => {});
          throw classified;
        }
        // Paid from here on: nothing below may send the request again (no
        // throw into the retry loop), nor hold up the vectors. Budget
        // bookkeeping runs beside them, best effort: while Redis is away it
        // fails, and the reservation stays stamped when it was made.
        if (budget && granted) {
          const b = budget;
          void b
            .restamp(granted, msSinceCounted(sent.headers))
            .then(() => this.recalibrate(b, sent.headers))
            .catch(() => {});
        }
        return toResponse(sent.data, texts.length, target.dimensions);
      },
      {
        retries: this.options.retries ?? 2,
        minTimeout: this.options.retryMinMs ?? 500,
        factor: 2,
        randomize: true,
        ...(opts.signal ? { signal: opts.signal } : {}),
      },
    );
  }

  private async recalibrate(budget: SharedBudget, headers: Headers): Promise<void> {
    const rl = readRateLimitHeaders(headers);
    await budget.adoptLimits({
      ...(rl.limitRequests ? { rpm: rl.limitRequests } : {}),
      ...(rl.limitTokens ? { tpm: rl.limitTokens } : {}),
    });
    if (rl.limitTokens !== undefined && rl.remainingTokens !== undefined) {
      const serverUsed = rl.limitTokens - rl.remainingTokens;
      const { tokens: ours } = await budget.usage();
      if (serverUsed > ours) await budget.recordExternal(serverUsed - ours, rl.resetTokensMs ?? budget.limits.windowMs);
    }
  }
}

function toResponse(
  data: { data: Array<{ index: number; embedding: number[] | string }>; usage: { prompt_tokens: number } },
  n: number,
  dims: number,
): EmbeddingResponse {
  const vectors: Float32Array[] = new Array(n);
  for (const item of data.data)
    vectors[item.index] =
      typeof item.embedding === 'string' ? decodeEmbedding(item.embedding) : Float32Array.from(item.embedding);
  for (let i = 0; i < n; i++) {
    const v = vectors[i];
    if (!v || v.length !== dims)
      throw new Error(
        `embeddings response is missing input ${i} or has ${v?.length ?? 0} dimensions instead of ${dims}`,
      );
  }
  return { vectors, promptTokens: data.usage.prompt_tokens };
}

/** One request without budget or retries: for search queries. */
export async function createEmbeddings(
  openai: OpenAI,
  target: EmbeddingKey,
  texts: string[],
): Promise<EmbeddingResponse> {
  try {
    const data = await openai.embeddings.create(requestBody(target, texts));
    return toResponse(data, texts.length, target.dimensions);
  } catch (err) {
    throw classifyOpenAIError(err);
  }
}
