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
 * Rate limits (FACTS.md, "Rate limits": per model, tier 1 defaults; the
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
 *
 * Request limits (FACTS.md, "Embeddings"):
 * - `maxInputs` — default 2048 inputs per request.
 * - `maxInputTokens` — default 8191 tokens per input (FACTS.md: "use 8191 as
 *   the bound"); `contextLength` — default 8192, the figure the error quotes.
 * - `maxRequestTokens` — default 300,000 tokens summed per request.
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
});

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
}

type Kind = 'int' | 'number' | 'bool' | 'string';

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
