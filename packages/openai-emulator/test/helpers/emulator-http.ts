/**
 * Raw HTTP against the emulator for the tests that check bodies and headers
 * byte for byte (the SDK would hide them), plus the SDK client those tests
 * use next to it. Every error body is validated against the spec's schema.
 */
import OpenAI from 'openai';
import { expect } from 'vitest';
import type { RunningEmulator } from '../../src/index.ts';
import { validateSchema } from './openapi.ts';

/** Bearer token the emulator accepts (it checks only the form unless configured). */
export const AUTH = { authorization: 'Bearer test' };

export interface Raw {
  status: number;
  headers: Headers;
  /** Raw JSON under test: deliberately untyped. A non-JSON body (a download) stays a string. */
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary fields of the raw response.
  body: any;
}

/** `method path` under `/v1`: a FormData body goes as multipart, anything else as JSON. */
export async function raw(emu: RunningEmulator, method: string, path: string, body?: unknown): Promise<Raw> {
  const init: RequestInit = { method, headers: { ...AUTH } };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { ...AUTH, 'content-type': 'application/json' };
  }
  const res = await fetch(`${emu.url}${path}`, init);
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON (a download)
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/** An admin endpoint (`/_emulator/...`, outside `/v1`). */
export function admin(emu: RunningEmulator, path: string, init?: RequestInit): Promise<Response> {
  return fetch(`${emu.url.replace(/\/v1$/, '')}${path}`, init);
}

/** The official SDK pointed at the emulator, without its own retries. */
export function client(emu: RunningEmulator, options: Partial<ConstructorParameters<typeof OpenAI>[0]> = {}): OpenAI {
  return new OpenAI({ apiKey: 'test', baseURL: emu.url, maxRetries: 0, ...options });
}

/** Asserts an OpenAI error body: status, schema, type (default invalid_request_error), and code/param when given. */
export function expectError(
  r: Raw,
  status: number,
  error: { message: string | RegExp; type?: string; code?: string | null; param?: string | null },
) {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  validateSchema('ErrorResponse', r.body);
  expect(r.body.error.type).toBe(error.type ?? 'invalid_request_error');
  if (error.code !== undefined) expect(r.body.error.code).toBe(error.code);
  if (error.param !== undefined) expect(r.body.error.param).toBe(error.param);
  if (typeof error.message === 'string') expect(r.body.error.message).toBe(error.message);
  else expect(r.body.error.message).toMatch(error.message);
}

/**
 * Reads a duration the emulator printed with `formatGoDuration` (`20ms`,
 * `2.812s`, `4m12.172s`, `1h0m0s`) back into milliseconds, for a test that
 * paces itself on `x-ratelimit-reset-*` like a client would. Only that
 * output, not Go's whole grammar: the package does not parse durations
 * (clients do; Sluice's parser is `src/openai/go-duration.ts`).
 * @throws Error for anything `formatGoDuration` does not print
 */
export function readGoDuration(text: string): number {
  const ms = /^(\d+)ms$/.exec(text);
  if (ms) return Number(ms[1]);
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(\d+(?:\.\d+)?)s$/.exec(text);
  if (!m) throw new Error(`not a formatGoDuration output: ${JSON.stringify(text)}`);
  return Number(m[1] ?? 0) * 3_600_000 + Number(m[2] ?? 0) * 60_000 + Math.round(Number(m[3]) * 1000);
}
