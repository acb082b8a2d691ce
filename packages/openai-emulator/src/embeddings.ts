/**
 * `POST /v1/embeddings` (spec operation createEmbedding): validates the
 * request, admits it into the model's rolling window (429 otherwise), and
 * answers a spec `CreateEmbeddingResponse` with deterministic vectors.
 * Every response of the route, errors and injected faults included, carries
 * the `x-ratelimit-*` headers (docs/openai-facts.md, "Rate limits").
 */
import { performance } from 'node:perf_hooks';
import { parseEmbeddingRequest } from './embedding-request.ts';
import type { HandlerResult, RequestContext, Route } from './http-types.ts';
import { DEFAULT_EMBEDDING_MODEL, findEmbeddingModel } from './models.ts';
import { admit, rateLimitHeaders } from './rate-limit.ts';
import { float32ToBase64, float32ToNumbers } from './vector-encoding.ts';
import { embedText } from './vectors.ts';

/** One element of `CreateEmbeddingResponse.data`. */
export interface EmbeddingObject {
  object: 'embedding';
  index: number;
  /** Numbers for `encoding_format: float`, a base64 string of float32 LE bytes for `base64`. */
  embedding: number[] | string;
}

/** The spec's `CreateEmbeddingResponse`. */
export interface CreateEmbeddingResponse {
  object: 'list';
  data: EmbeddingObject[];
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

/** Handler for `POST /v1/embeddings`. */
export function createEmbedding(ctx: RequestContext): HandlerResult {
  const { state } = ctx;
  const request = parseEmbeddingRequest(ctx.json(), state.settings);
  ctx.locals['model'] = request.model;
  admit(state, request.model, request.totalTokens);
  ctx.countedAt = performance.now();
  state.counters.recordAccepted(request.inputs.length, request.totalTokens);
  ctx.billedTokens = request.totalTokens;

  const data: EmbeddingObject[] = request.inputs.map((input, index) => {
    const vector = embedText(input.text, request.dimensions);
    return {
      object: 'embedding',
      index,
      embedding: request.encodingFormat === 'base64' ? float32ToBase64(vector) : float32ToNumbers(vector),
    };
  });
  const body: CreateEmbeddingResponse = {
    object: 'list',
    data,
    model: request.model,
    usage: { prompt_tokens: request.totalTokens, total_tokens: request.totalTokens },
  };
  return { body };
}

/**
 * The model whose window the headers describe: the request's model if it is
 * one we serve, else the default model (so even a 400 or 404 carries headers).
 */
function headerModel(ctx: RequestContext): string {
  const known = ctx.locals['model'];
  if (typeof known === 'string') return known;
  try {
    const body = ctx.json() as { model?: unknown } | undefined;
    if (typeof body?.model === 'string' && findEmbeddingModel(body.model)) return body.model;
  } catch {
    // malformed JSON: fall through to the default model
  }
  return DEFAULT_EMBEDDING_MODEL;
}

/** The embeddings route. */
export function embeddingRoutes(): Route[] {
  return [
    {
      method: 'POST',
      path: '/v1/embeddings',
      api: true,
      billable: true,
      handler: createEmbedding,
      headers: (ctx) => rateLimitHeaders(ctx.state, headerModel(ctx)),
    },
  ];
}
