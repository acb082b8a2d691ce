/**
 * Validation of a `CreateEmbeddingRequest` body (spec schema
 * `CreateEmbeddingRequest`; limits docs/openai-facts.md "Embeddings"), in the order the
 * service reports problems: body shape and unknown keys, `model`, `input`
 * shape, `encoding_format`, `dimensions`, then token limits. Token limits
 * need token counts, so they are checked by {@link checkTokenLimits} once the
 * inputs are counted.
 */
import {
  contextLengthExceeded,
  invalidField,
  invalidRequest,
  maxTokensPerRequest,
  missingParameter,
  modelNotFound,
  unrecognizedArgument,
} from './errors.ts';
import { findEmbeddingModel } from './models.ts';
import type { EmulatorSettings } from './options.ts';
import { countTextTokens, decodeTokens } from './tokens.ts';

/** One input, ready to embed. */
export interface EmbeddingInput {
  /** The text to embed (decoded from the ids for a token-array input). */
  text: string;
  /** Tokens billed: cl100k_base count of a string, or the length of a token array. */
  tokens: number;
}

/** A validated request. */
export interface EmbeddingRequest {
  model: string;
  inputs: EmbeddingInput[];
  encodingFormat: 'float' | 'base64';
  dimensions: number;
  /** Sum of `inputs[].tokens`: `usage.prompt_tokens` and what TPM counts. */
  totalTokens: number;
}

const KNOWN_KEYS = new Set(['input', 'model', 'encoding_format', 'dimensions', 'user']);

/**
 * Validates `body` and counts its tokens.
 * @param body the parsed JSON body (`undefined` for an empty body)
 * @param settings for `maxInputs`, `maxInputTokens`, `contextLength`, `maxRequestTokens`
 * @throws ApiError 400 (invalid request), 404 (`model_not_found`)
 */
export function parseEmbeddingRequest(body: unknown, settings: Readonly<EmulatorSettings>): EmbeddingRequest {
  const b = (body ?? {}) as Record<string, unknown>;
  if (typeof b !== 'object' || Array.isArray(b)) throw invalidField('$');
  for (const key of Object.keys(b)) if (!KNOWN_KEYS.has(key)) throw unrecognizedArgument(key);

  if (b['model'] === undefined || b['model'] === null) throw invalidRequest('you must provide a model parameter');
  if (typeof b['model'] !== 'string') throw invalidField('$.model');
  const model = b['model'];
  if (b['input'] === undefined || b['input'] === null) throw missingParameter('input');
  const spec = findEmbeddingModel(model);
  if (!spec) throw modelNotFound(model);

  const inputs = parseInput(b['input'], settings.maxInputs);
  const encodingFormat = parseEncodingFormat(b['encoding_format']);
  const dimensions = parseDimensions(b, spec.defaultDimensions, spec.supportsDimensions);
  if (b['user'] !== undefined && typeof b['user'] !== 'string') throw invalidField('$.user');

  const totalTokens = checkTokenLimits(inputs, settings);
  return { model, inputs, encodingFormat, dimensions, totalTokens };
}

/**
 * Normalises the four accepted `input` shapes (string, string[], token ids,
 * token-id arrays) into inputs. Empty strings, empty arrays, mixed arrays and
 * more than `maxInputs` inputs are rejected like the service does, with
 * `'$.input' is invalid`.
 */
function parseInput(input: unknown, maxInputs: number): EmbeddingInput[] {
  if (typeof input === 'string') return [textInput(input)];
  if (!Array.isArray(input) || input.length === 0) throw invalidField('$.input');
  // One token array is one input: its length is bounded by the token limit,
  // not by maxInputs (the spec's `maxItems: 2048` on it is not enforced by
  // the service, which embeds 8191-token arrays).
  if (input.every(isTokenId)) return [tokenInput(input as number[])];
  if (input.length > maxInputs) throw invalidField('$.input');
  if (input.every((x) => typeof x === 'string')) return (input as string[]).map(textInput);
  if (input.every((x) => Array.isArray(x) && x.length > 0 && x.every(isTokenId))) {
    return (input as number[][]).map(tokenInput);
  }
  throw invalidField('$.input');
}

function textInput(text: string): EmbeddingInput {
  if (text === '') throw invalidField('$.input');
  return { text, tokens: countTextTokens(text) };
}

function tokenInput(ids: number[]): EmbeddingInput {
  const text = decodeTokens(ids);
  if (text === undefined) throw invalidField('$.input');
  return { text, tokens: ids.length };
}

function isTokenId(x: unknown): boolean {
  return typeof x === 'number' && Number.isInteger(x) && x >= 0;
}

function parseEncodingFormat(value: unknown): 'float' | 'base64' {
  if (value === undefined || value === null) return 'float'; // the spec's default
  if (value === 'float' || value === 'base64') return value;
  throw invalidRequest(
    `${JSON.stringify(value)} is not one of ['float', 'base64'] - 'encoding_format'`,
    'encoding_format',
  );
}

/**
 * `dimensions`: only text-embedding-3 models (ada-002 refuses the key even
 * when null, as the service does); an integer from 1 to the model's default.
 */
function parseDimensions(body: Record<string, unknown>, max: number, supported: boolean): number {
  if (!('dimensions' in body)) return max;
  const value = body['dimensions'];
  if (!supported) throw invalidRequest('This model does not support specifying dimensions.');
  if (value === undefined || value === null) return max;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw invalidRequest(`${JSON.stringify(value)} is not of type 'integer' - 'dimensions'`, 'dimensions');
  }
  if (value < 1) throw invalidRequest(`${value} is less than the minimum of 1 - 'dimensions'`, 'dimensions');
  if (value > max) {
    throw invalidRequest(`This model does not support more than ${max} dimensions; requested ${value}.`, 'dimensions');
  }
  return value;
}

/**
 * Per-input and per-request token limits (docs/openai-facts.md, "Embeddings": ≤ 8191
 * tokens per input, quoted as "maximum context length is 8192 tokens";
 * ≤ 300,000 tokens summed per request).
 * @returns the summed token count
 * @throws ApiError 400
 */
export function checkTokenLimits(inputs: readonly EmbeddingInput[], settings: Readonly<EmulatorSettings>): number {
  let total = 0;
  for (const input of inputs) {
    if (input.tokens > settings.maxInputTokens) throw contextLengthExceeded(settings.contextLength, input.tokens);
    total += input.tokens;
  }
  if (total > settings.maxRequestTokens) throw maxTokensPerRequest(total, settings.maxRequestTokens);
  return total;
}
