/**
 * The emulator's behaviour settings: defaults, validation (zod) and parsing
 * from environment variables. One settings object drives everything; it can
 * be changed at run time through `configure()` / `POST /_emulator/config`.
 */
import type { Logger } from 'pino';
import { z } from 'zod';

/**
 * Behaviour settings. Every field can be set in {@link EmulatorOptions},
 * patched at run time, and (where an env variable is named) read by
 * `emulatorSettingsFromEnv()`.
 *
 * Rate limits (docs/openai-facts.md, "Rate limits": per model, tier 1 defaults; the
 * values change, hence settings):
 * - `rpm` — `EMULATOR_RPM`, default 3000: requests admitted per window, per model.
 * - `tpm` — `EMULATOR_TPM`, default 1,000,000: tokens (cl100k_base, summed over
 *   inputs) admitted per window, per model.
 * - `windowMs` — `EMULATOR_WINDOW_MS`, default 60,000 ms: the rolling window
 *   (shorten it, e.g. to 2,000 ms, so tests hit and recover from limits fast;
 *   the 429 message still says "per min" like the service).
 * - `insufficientQuota` — `EMULATOR_INSUFFICIENT_QUOTA` (true/false/1/0/yes/no),
 *   default false: every billable request gets 429 `insufficient_quota`.
 * - `sendRetryAfterMs` — `EMULATOR_SEND_RETRY_AFTER_MS`, default false: also
 *   send `retry-after-ms` on 429 (the service rarely does; the SDK prefers it).
 *
 * Latency and faults (decided per request from a PRNG seeded with `seed`):
 * - `latencyMs` — `EMULATOR_LATENCY_MS`, default 0 ms: added to every API response.
 * - `latencyPerTokenMs` — `EMULATOR_LATENCY_PER_TOKEN_MS`, default 0 ms per
 *   accepted token (e.g. 300 + 0.01/token imitates the service).
 * - `errorRate` — `EMULATOR_ERROR_RATE`, default 0: fraction answered 500 or 503.
 * - `dropRate` — `EMULATOR_DROP_RATE`, default 0: fraction whose connection is
 *   destroyed without a response.
 * - `slowRate` — `EMULATOR_SLOW_RATE`, default 0: fraction answered `slowMs` late.
 * - `slowMs` — `EMULATOR_SLOW_MS`, default 30,000 ms: extra delay of a slow response.
 * - `seed` — `EMULATOR_SEED`, default 1: PRNG seed (reseeded on `reset()`).
 *   `errorRate + dropRate + slowRate` must be ≤ 1.
 * - `faultRoutes` — `EMULATOR_FAULT_ROUTES` (comma-separated), default null:
 *   which API routes faults hit. null = every `/v1` route (embeddings, files,
 *   vector stores, …). Otherwise a list of entries, each either
 *   `"METHOD /v1/path/{param}"` (one route, spelled as in the spec, e.g.
 *   `"POST /v1/embeddings"`) or a path prefix (e.g. `"/v1/vector_stores"`:
 *   every method of every route under it). Requests to other routes draw no
 *   fault (and consume no PRNG draw, so the fault sequence of the chosen
 *   routes does not depend on other traffic).
 *
 * Request limits (docs/openai-facts.md, "Embeddings"):
 * - `maxInputs` — default 2048 inputs per request.
 * - `maxInputTokens` — default 8191 tokens per input (docs/openai-facts.md: "use 8191 as
 *   the bound"); `contextLength` — default 8192, the figure the error quotes.
 * - `maxRequestTokens` — default 300,000 tokens summed per request.
 *
 * Files and vector stores (docs/openai-facts.md, "Files" and "Vector stores"):
 * - `maxFileBytes` — `EMULATOR_MAX_FILE_BYTES`, default 512 MiB: larger uploads
 *   get 413 (`POST /v1/files` accepts bodies up to this plus 1 MiB of form
 *   overhead, regardless of `maxBodyBytes`).
 * - `fileProcessingDelayMs` — `EMULATOR_FILE_PROCESSING_DELAY_MS`, default 50 ms
 *   on the emulator clock: how long an attached file stays `in_progress`
 *   (0 = terminal at the next request; `advanceClock()` also completes it).
 * - `vectorStoreWriteLimit` — `EMULATOR_VECTOR_STORE_WRITE_LIMIT`, default 300:
 *   write requests (`POST/DELETE …/files…`, `POST …/file_batches`) per store
 *   per `vectorStoreWriteWindowMs` (default 60,000 ms, on the emulator
 *   clock); more get 429 `rate_limit_exceeded` with `Retry-After`.
 * - `maxVectorStoreFileIds` — default 500 `file_ids` at store creation.
 * - `maxFileBatchSize` — default 2000 `file_ids` / `files` per batch.
 * - `maxFileTokens` — default 5,000,000 tokens per file in a store (more: `failed`, `invalid_file`).
 * - `attributeMaxKeys` — default 16; `attributeMaxLength` — default 256
 *   characters per attribute key and string value. Stricter than OpenAI:
 *   docs/openai-facts.md, "Vector stores" (corrected to match the spec) allows
 *   keys ≤ 64 and string values ≤ 512; a known gap, kept until a change that
 *   may alter the emulator's behaviour.
 * - `pollAfterMs` — default null: when set, `openai-poll-after-ms` is sent on
 *   vector store file / file batch responses (the SDK's poll helpers then wait
 *   this long instead of 5 s when no `pollIntervalMs` is given).
 * - `holdProcessing` — `EMULATOR_HOLD_PROCESSING`, default null: a regular
 *   expression (JavaScript syntax) tested against each File's filename; the
 *   attachments of the Files it matches stay `in_progress` for as long as it
 *   does, whatever `fileProcessingDelayMs` and the clock say, as OpenAI files
 *   sometimes do indefinitely (a client's poll must end by its own deadline).
 *   Once the setting no longer matches, they finish at the next request.
 *
 * Server:
 * - `apiKey` — `EMULATOR_API_KEY`, default null: when set, only `Bearer <apiKey>`
 *   is accepted (others get 401 `invalid_api_key`); when null any non-empty key is.
 * - `organization` — default `org-emulator`, quoted in 429 messages.
 * - `maxBodyBytes` — default 64 MiB: larger bodies get 413.
 */
export interface EmulatorSettings {
  rpm: number;
  tpm: number;
  windowMs: number;
  insufficientQuota: boolean;
  sendRetryAfterMs: boolean;
  latencyMs: number;
  latencyPerTokenMs: number;
  errorRate: number;
  dropRate: number;
  slowRate: number;
  slowMs: number;
  seed: number;
  maxInputs: number;
  maxInputTokens: number;
  contextLength: number;
  maxRequestTokens: number;
  apiKey: string | null;
  organization: string;
  maxBodyBytes: number;
  faultRoutes: string[] | null;
  maxFileBytes: number;
  fileProcessingDelayMs: number;
  vectorStoreWriteLimit: number;
  vectorStoreWriteWindowMs: number;
  maxVectorStoreFileIds: number;
  maxFileBatchSize: number;
  maxFileTokens: number;
  attributeMaxKeys: number;
  attributeMaxLength: number;
  pollAfterMs: number | null;
  holdProcessing: string | null;
}

/** Defaults; see {@link EmulatorSettings} for units and sources. */
export const DEFAULT_SETTINGS: Readonly<EmulatorSettings> = Object.freeze({
  rpm: 3000,
  tpm: 1_000_000,
  windowMs: 60_000,
  insufficientQuota: false,
  sendRetryAfterMs: false,
  latencyMs: 0,
  latencyPerTokenMs: 0,
  errorRate: 0,
  dropRate: 0,
  slowRate: 0,
  slowMs: 30_000,
  seed: 1,
  maxInputs: 2048,
  maxInputTokens: 8191,
  contextLength: 8192,
  maxRequestTokens: 300_000,
  apiKey: null,
  organization: 'org-emulator',
  maxBodyBytes: 64 * 1024 * 1024,
  faultRoutes: null,
  maxFileBytes: 512 * 1024 * 1024,
  fileProcessingDelayMs: 50,
  vectorStoreWriteLimit: 300,
  vectorStoreWriteWindowMs: 60_000,
  maxVectorStoreFileIds: 500,
  maxFileBatchSize: 2000,
  maxFileTokens: 5_000_000,
  attributeMaxKeys: 16,
  attributeMaxLength: 256,
  pollAfterMs: null,
  holdProcessing: null,
});

const count = z.number().int().min(1);
const ms = z.number().min(0);
const rate = z.number().min(0).max(1);

/** Shape of a settings patch: every key optional, unknown keys rejected. */
export const SettingsPatchSchema = z.strictObject({
  rpm: count.optional(),
  tpm: count.optional(),
  windowMs: z.number().int().min(1).optional(),
  insufficientQuota: z.boolean().optional(),
  sendRetryAfterMs: z.boolean().optional(),
  latencyMs: ms.optional(),
  latencyPerTokenMs: ms.optional(),
  errorRate: rate.optional(),
  dropRate: rate.optional(),
  slowRate: rate.optional(),
  slowMs: ms.optional(),
  seed: z.number().int().optional(),
  maxInputs: count.optional(),
  maxInputTokens: count.optional(),
  contextLength: count.optional(),
  maxRequestTokens: count.optional(),
  apiKey: z.string().min(1).nullable().optional(),
  organization: z.string().min(1).optional(),
  maxBodyBytes: count.optional(),
  faultRoutes: z.array(z.string().min(1)).nullable().optional(),
  maxFileBytes: count.optional(),
  fileProcessingDelayMs: ms.optional(),
  vectorStoreWriteLimit: count.optional(),
  vectorStoreWriteWindowMs: z.number().int().min(1).optional(),
  maxVectorStoreFileIds: count.optional(),
  maxFileBatchSize: count.optional(),
  maxFileTokens: count.optional(),
  attributeMaxKeys: count.optional(),
  attributeMaxLength: count.optional(),
  pollAfterMs: z.number().int().min(0).nullable().optional(),
  holdProcessing: z.string().min(1).refine(compiles, 'a regular expression (JavaScript syntax)').nullable().optional(),
});

function compiles(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

/** Thrown for an invalid patch or env variable; `message` lists every problem. */
export class SettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SettingsError';
  }
}

/**
 * Validates `patch` and applies it to `base`, checking the combined fault
 * rates as well.
 * @throws SettingsError naming each bad key
 */
export function mergeSettings(base: Readonly<EmulatorSettings>, patch: unknown): EmulatorSettings {
  const parsed = SettingsPatchSchema.safeParse(patch ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new SettingsError(`Invalid emulator settings: ${problems.join('; ')}`);
  }
  const merged: EmulatorSettings = { ...base };
  for (const [key, value] of Object.entries(parsed.data)) {
    if (value !== undefined) (merged as unknown as Record<string, unknown>)[key] = value;
  }
  // Own copy: neither the caller's patch nor an earlier settings object can change it later.
  if (merged.faultRoutes) merged.faultRoutes = [...merged.faultRoutes];
  const faultTotal = merged.errorRate + merged.dropRate + merged.slowRate;
  if (faultTotal > 1) {
    throw new SettingsError(`Invalid emulator settings: errorRate + dropRate + slowRate = ${faultTotal} > 1`);
  }
  return merged;
}

/** Options of `startEmulator()`: where to listen, a logger, and any settings. */
export interface EmulatorOptions extends Partial<EmulatorSettings> {
  /** Interface to bind, default `127.0.0.1` (loopback only). */
  host?: string;
  /** TCP port, default 0 (any free port; read it from `RunningEmulator.port`). */
  port?: number;
  /** Request log (debug level); default: a silent logger. */
  logger?: Logger;
  /**
   * Directory that keeps Files, vector stores, attachments, batches and the
   * clock across restarts (`EMULATOR_STATE_DIR`; see `persistence.ts`):
   * loaded at start, saved after every request that changes them. One
   * emulator at a time may use it. Default: memory only.
   */
  stateDir?: string;
}

/**
 * `EMULATOR_STATE_DIR` (the {@link EmulatorOptions.stateDir} option; not a
 * setting: it cannot change at run time).
 * @param env defaults to `process.env`
 * @returns the directory, or undefined when unset or blank
 */
export function emulatorStateDirFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dir = env['EMULATOR_STATE_DIR']?.trim();
  return dir ? dir : undefined;
}

type Kind = 'int' | 'number' | 'bool' | 'string' | 'list';

/** Env variable → setting, and how to parse it. */
const ENV_VARS: ReadonlyArray<readonly [string, keyof EmulatorSettings, Kind]> = [
  ['EMULATOR_RPM', 'rpm', 'int'],
  ['EMULATOR_TPM', 'tpm', 'int'],
  ['EMULATOR_WINDOW_MS', 'windowMs', 'int'],
  ['EMULATOR_LATENCY_MS', 'latencyMs', 'number'],
  ['EMULATOR_LATENCY_PER_TOKEN_MS', 'latencyPerTokenMs', 'number'],
  ['EMULATOR_ERROR_RATE', 'errorRate', 'number'],
  ['EMULATOR_DROP_RATE', 'dropRate', 'number'],
  ['EMULATOR_SLOW_RATE', 'slowRate', 'number'],
  ['EMULATOR_SLOW_MS', 'slowMs', 'number'],
  ['EMULATOR_INSUFFICIENT_QUOTA', 'insufficientQuota', 'bool'],
  ['EMULATOR_SEED', 'seed', 'int'],
  ['EMULATOR_SEND_RETRY_AFTER_MS', 'sendRetryAfterMs', 'bool'],
  ['EMULATOR_API_KEY', 'apiKey', 'string'],
  ['EMULATOR_FAULT_ROUTES', 'faultRoutes', 'list'],
  ['EMULATOR_MAX_FILE_BYTES', 'maxFileBytes', 'int'],
  ['EMULATOR_FILE_PROCESSING_DELAY_MS', 'fileProcessingDelayMs', 'number'],
  ['EMULATOR_VECTOR_STORE_WRITE_LIMIT', 'vectorStoreWriteLimit', 'int'],
  ['EMULATOR_VECTOR_STORE_WRITE_WINDOW_MS', 'vectorStoreWriteWindowMs', 'int'],
  ['EMULATOR_HOLD_PROCESSING', 'holdProcessing', 'string'],
];

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

/**
 * Reads the `EMULATOR_*` variables listed on {@link EmulatorSettings}.
 * Unset or blank variables are left out (so defaults apply); the result is
 * validated like a runtime patch.
 *
 * @param env defaults to `process.env`
 * @returns only the settings the environment sets
 * @throws SettingsError naming the variable when a value does not parse or is out of range
 */
export function emulatorSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<EmulatorSettings> {
  const patch: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, key, kind] of ENV_VARS) {
    const raw = env[name]?.trim();
    if (raw === undefined || raw === '') continue;
    const value = parseEnvValue(raw, kind);
    if (value === undefined) problems.push(`${name}=${JSON.stringify(raw)} is not a valid ${kind}`);
    else patch[key] = value;
  }
  if (problems.length > 0) throw new SettingsError(`Invalid emulator environment: ${problems.join('; ')}`);
  try {
    mergeSettings(DEFAULT_SETTINGS, patch);
  } catch (err) {
    const envName = (key: string) => ENV_VARS.find(([, k]) => k === key)?.[0] ?? key;
    throw new SettingsError(
      (err as Error).message.replace(/\b([a-zA-Z]+)(?=:)/g, (k) => envName(k)).replace('settings', 'environment'),
    );
  }
  return patch as Partial<EmulatorSettings>;
}

function parseEnvValue(raw: string, kind: Kind): unknown {
  switch (kind) {
    case 'string':
      return raw;
    case 'list':
      return raw
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x !== '');
    case 'bool': {
      const v = raw.toLowerCase();
      if (TRUE.has(v)) return true;
      if (FALSE.has(v)) return false;
      return undefined;
    }
    case 'int':
    case 'number': {
      const n = Number(raw);
      if (!Number.isFinite(n) || (kind === 'int' && !Number.isInteger(n))) return undefined;
      return n;
    }
  }
}
