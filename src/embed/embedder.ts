/**
 * Calls the embeddings endpoint for one packed request and classifies what
 * goes wrong: errors that no retry can fix become PermanentError with the
 * API's own message; the rest are rethrown for the job's retry policy.
 */
import { APIError } from 'openai';
import type { OpenAI } from '../openai/client.ts';
import { PermanentError } from '../queue/errors.ts';

export interface EmbeddingTarget {
  model: string;
  /** Output dimensions; sent only to models that accept `dimensions` (text-embedding-3-*). */
  dimensions: number;
}

export interface EmbeddingResponse {
  /** One vector per input, in input order. */
  vectors: number[][];
  /** Tokens billed, from `usage.prompt_tokens`. */
  promptTokens: number;
}

/** Statuses no retry can fix (FACTS.md: insufficient_quota is a 429 but not retryable). */
const PERMANENT_STATUSES = new Set([400, 401, 403, 404, 422]);

function acceptsDimensions(model: string): boolean {
  return model.startsWith('text-embedding-3');
}

/** Converts an SDK error into the retry decision; returns the error to throw. */
export function classifyOpenAIError(err: unknown): Error {
  if (err instanceof APIError) {
    const code = err.code ?? (err.error as { type?: string } | undefined)?.type;
    if (err.status === 429 && (code === 'insufficient_quota' || err.type === 'insufficient_quota')) {
      return new PermanentError(`OpenAI refused the request (insufficient_quota): ${err.message}`, { cause: err });
    }
    if (err.status !== undefined && PERMANENT_STATUSES.has(err.status)) {
      return new PermanentError(`OpenAI answered ${err.status}: ${err.message}`, { cause: err });
    }
  }
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * Embeds `texts` in one request.
 * @throws PermanentError for 400/401/403/404 and insufficient_quota; other errors as thrown by the SDK.
 */
export async function createEmbeddings(openai: OpenAI, target: EmbeddingTarget, texts: string[]): Promise<EmbeddingResponse> {
  let response;
  try {
    response = await openai.embeddings.create({
      model: target.model,
      input: texts,
      ...(acceptsDimensions(target.model) ? { dimensions: target.dimensions } : {}),
    });
  } catch (err) {
    throw classifyOpenAIError(err);
  }
  const vectors: number[][] = new Array(texts.length);
  for (const item of response.data) vectors[item.index] = item.embedding;
  for (let i = 0; i < texts.length; i++) {
    const v = vectors[i];
    if (!v || v.length !== target.dimensions) {
      throw new Error(`embeddings response is missing input ${i} or has ${v?.length ?? 0} dimensions instead of ${target.dimensions}`);
    }
  }
  return { vectors, promptTokens: response.usage.prompt_tokens };
}
