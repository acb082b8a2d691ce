/**
 * Small validators for JSON request bodies of the Files and Vector Stores
 * endpoints, raising the service's parameter-validation errors
 * (`Invalid 'x': …`, `param` = the JSON path). Shared shapes live here:
 * `metadata` (spec `Metadata`), `attributes` (spec
 * `VectorStoreFileAttributes`, limits docs/openai-facts.md "Vector stores") and
 * `chunking_strategy` (spec `ChunkingStrategyRequestParam`).
 */
import {
  aboveMaximum,
  arrayTooLong,
  belowMinimum,
  emptyArray,
  invalidRequest,
  invalidType,
  invalidValue,
  missingParameter,
  stringTooLong,
  tooManyProperties,
  unknownParameter,
} from './errors.ts';

/** A JSON object body. */
export type JsonObject = Record<string, unknown>;

/** A file's attributes: ≤ 16 keys; values string, number or boolean. */
export type Attributes = Record<string, string | number | boolean>;

/** A resolved chunking strategy (auto is 800 / 400). */
export interface ChunkingStrategy {
  maxChunkSizeTokens: number;
  chunkOverlapTokens: number;
}

/** `auto`: docs/openai-facts.md "Vector stores" (800 tokens, 400 overlap). */
export const AUTO_CHUNKING: Readonly<ChunkingStrategy> = Object.freeze({
  maxChunkSizeTokens: 800,
  chunkOverlapTokens: 400,
});

/** Limits for {@link parseAttributes}. */
export interface AttributeLimits {
  maxKeys: number;
  /** Longest key and longest string value, characters. */
  maxLength: number;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The body as an object (an empty body counts as `{}`), with unknown keys rejected.
 * @throws ApiError 400
 */
export function bodyObject(body: unknown, known: readonly string[]): JsonObject {
  if (body === undefined) return {};
  if (!isObject(body)) throw invalidType('$', 'an object', body);
  rejectUnknownKeys(body, known, '');
  return body;
}

/** @throws ApiError 400 `unknown_parameter` for the first key not in `known` */
export function rejectUnknownKeys(obj: JsonObject, known: readonly string[], prefix: string): void {
  for (const key of Object.keys(obj))
    if (!known.includes(key)) throw unknownParameter(prefix ? `${prefix}.${key}` : key);
}

/** An optional string; `null` counts as absent when `nullable`. */
export function optionalString(obj: JsonObject, key: string, nullable = true): string | undefined {
  const v = obj[key];
  if (v === undefined || (v === null && nullable)) return undefined;
  if (typeof v !== 'string') throw invalidType(key, 'a string', v);
  return v;
}

/** A required string. */
export function requiredString(obj: JsonObject, key: string, path: string = key): string {
  const v = obj[key];
  if (v === undefined || v === null) throw missingParameter(path);
  if (typeof v !== 'string') throw invalidType(path, 'a string', v);
  return v;
}

/** An integer within `[min, max]`. */
export function integerInRange(value: unknown, path: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw invalidType(path, 'an integer', value);
  if (value < min) throw belowMinimum(path, min, value);
  if (value > max) throw aboveMaximum(path, max, value);
  return value;
}

/** A number within `[min, max]`. */
export function numberInRange(value: unknown, path: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw invalidType(path, 'a number', value);
  if (value < min) throw belowMinimum(path, min, value);
  if (value > max) throw aboveMaximum(path, max, value);
  return value;
}

/** An array of strings with `min..max` items. */
export function stringArray(value: unknown, path: string, min: number, max: number): string[] {
  if (!Array.isArray(value)) throw invalidType(path, 'an array', value);
  if (value.length < min) throw emptyArray(path);
  if (value.length > max) throw arrayTooLong(path, max, value.length);
  value.forEach((item, i) => {
    if (typeof item !== 'string') throw invalidType(`${path}[${i}]`, 'a string', item);
  });
  return value as string[];
}

/** One of `allowed`. */
export function enumValue<T extends string>(value: unknown, path: string, allowed: readonly T[]): T {
  if (typeof value !== 'string') throw invalidType(path, 'a string', value);
  if (!(allowed as readonly string[]).includes(value)) throw invalidValue(path, value, allowed);
  return value as T;
}

/**
 * `metadata` (spec `Metadata`): an object of ≤ 16 string values, keys ≤ 64
 * and values ≤ 512 characters, or null.
 * @returns the metadata (`{}` for null/absent)
 */
export function parseMetadata(value: unknown, path = 'metadata'): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isObject(value)) throw invalidType(path, 'an object', value);
  const entries = Object.entries(value);
  if (entries.length > 16) throw tooManyProperties(path, 16, entries.length);
  for (const [k, v] of entries) {
    if (k.length > 64) throw stringTooLong(`${path}.${k}`, 64, k.length);
    if (typeof v !== 'string') throw invalidType(`${path}.${k}`, 'a string', v);
    if (v.length > 512) throw stringTooLong(`${path}.${k}`, 512, v.length);
  }
  return { ...(value as Record<string, string>) };
}

/**
 * `attributes` (spec `VectorStoreFileAttributes`): ≤ `maxKeys` keys; values
 * strings, numbers or booleans; keys and string values ≤ `maxLength`
 * characters; or null.
 * @returns the attributes (`{}` for null/absent)
 */
export function parseAttributes(value: unknown, path: string, limits: AttributeLimits): Attributes {
  if (value === undefined || value === null) return {};
  if (!isObject(value)) throw invalidType(path, 'an object', value);
  const entries = Object.entries(value);
  if (entries.length > limits.maxKeys) throw tooManyProperties(path, limits.maxKeys, entries.length);
  for (const [k, v] of entries) {
    if (k.length > limits.maxLength) throw stringTooLong(`${path}.${k}`, limits.maxLength, k.length);
    if (typeof v === 'string') {
      if (v.length > limits.maxLength) throw stringTooLong(`${path}.${k}`, limits.maxLength, v.length);
    } else if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw invalidType(`${path}.${k}`, 'a string, number, or boolean', v);
    } else if (typeof v !== 'boolean') {
      throw invalidType(`${path}.${k}`, 'a string, number, or boolean', v);
    }
  }
  return { ...(value as Attributes) };
}

/**
 * `chunking_strategy`: `{type:"auto"}` (800/400) or `{type:"static",
 * static:{max_chunk_size_tokens 100..4096, chunk_overlap_tokens 0..max/2}}`.
 * @returns the strategy, or `undefined` when absent/null (the caller picks the default)
 */
export function parseChunkingStrategy(value: unknown, path = 'chunking_strategy'): ChunkingStrategy | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) throw invalidType(path, 'an object', value);
  const type = enumValue(value['type'] ?? missing(`${path}.type`), `${path}.type`, ['auto', 'static'] as const);
  if (type === 'auto') {
    rejectUnknownKeys(value, ['type'], path);
    return { ...AUTO_CHUNKING };
  }
  rejectUnknownKeys(value, ['type', 'static'], path);
  const s = value['static'];
  if (s === undefined || s === null) throw missingParameter(`${path}.static`);
  if (!isObject(s)) throw invalidType(`${path}.static`, 'an object', s);
  rejectUnknownKeys(s, ['max_chunk_size_tokens', 'chunk_overlap_tokens'], `${path}.static`);
  const maxPath = `${path}.static.max_chunk_size_tokens`;
  const overlapPath = `${path}.static.chunk_overlap_tokens`;
  const max = integerInRange(s['max_chunk_size_tokens'] ?? missing(maxPath), maxPath, 100, 4096);
  const overlap = integerInRange(
    s['chunk_overlap_tokens'] ?? missing(overlapPath),
    overlapPath,
    0,
    Number.MAX_SAFE_INTEGER,
  );
  if (overlap > max / 2) {
    throw invalidRequest(
      `Invalid '${overlapPath}': chunk_overlap_tokens must be less than or equal to half of max_chunk_size_tokens (${max / 2}), but got ${overlap}.`,
      overlapPath,
      'invalid_value',
    );
  }
  return { maxChunkSizeTokens: max, chunkOverlapTokens: overlap };
}

function missing(path: string): never {
  throw missingParameter(path);
}

/** The response form of a strategy (spec `StaticChunkingStrategyResponseParam`; auto is reported as static 800/400). */
export function chunkingStrategyJson(s: ChunkingStrategy): {
  type: 'static';
  static: { max_chunk_size_tokens: number; chunk_overlap_tokens: number };
} {
  return {
    type: 'static',
    static: { max_chunk_size_tokens: s.maxChunkSizeTokens, chunk_overlap_tokens: s.chunkOverlapTokens },
  };
}
