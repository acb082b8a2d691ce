/**
 * The emulator's embeddings endpoint, driven over real HTTP on loopback by
 * the official `openai` SDK (and by fetch where the raw body or headers
 * matter). Response and error bodies are validated against the OpenAPI
 * spec's schemas.
 */
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { countTokens, encode } from 'gpt-tokenizer/encoding/cl100k_base';
import {
  embedText,
  startEmulator,
  type EmulatorSettings,
  type EmulatorStats,
  type OpenAIErrorBody,
  type RunningEmulator,
} from '../../src/index.ts';
import { base64ToFloat32 } from '../../src/vector-encoding.ts';
import { admin, AUTH, client, expectError, readGoDuration, type Raw } from '../helpers/emulator-http.ts';
import { validateSchema } from '../helpers/openapi.ts';

const MODEL = 'text-embedding-3-small';
const JSON_AUTH = { ...AUTH, 'content-type': 'application/json' };

async function post(
  emu: RunningEmulator,
  path: string,
  body: unknown,
  headers: Record<string, string> = JSON_AUTH,
): Promise<Raw> {
  const res = await fetch(`${emu.url}${path}`, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

const RATE_LIMIT_HEADERS = [
  'x-ratelimit-limit-requests',
  'x-ratelimit-limit-tokens',
  'x-ratelimit-remaining-requests',
  'x-ratelimit-remaining-tokens',
  'x-ratelimit-reset-requests',
  'x-ratelimit-reset-tokens',
];

function expectCommonHeaders(headers: Headers, rateLimited = true) {
  expect(headers.get('content-type')).toBe('application/json');
  expect(headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{32}$/);
  expect(headers.get('openai-processing-ms')).toMatch(/^\d+$/);
  if (rateLimited) for (const h of RATE_LIMIT_HEADERS) expect(headers.get(h), h).not.toBeNull();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('POST /v1/embeddings: requests and responses', () => {
  let emu: RunningEmulator;
  let openai: OpenAI;
  beforeAll(async () => {
    emu = await startEmulator();
    openai = client(emu);
    validateSchema('ErrorResponse', { error: { message: '', type: '', param: null, code: null } }); // load the spec once
  }, 30_000);
  afterAll(() => emu.close());

  it('embeds a string (SDK default: base64 on the wire, decoded to numbers)', async () => {
    const text = 'The quick brown fox jumps over the lazy dog';
    const { data: res, response } = await openai.embeddings.create({ model: MODEL, input: text }).withResponse();
    expect(res.object).toBe('list');
    expect(res.model).toBe(MODEL);
    expect(res.data).toHaveLength(1);
    expect(res.data[0]?.index).toBe(0);
    expect(res.data[0]?.embedding).toHaveLength(1536);
    expect(Array.from(res.data[0]?.embedding ?? [])).toEqual(Array.from(embedText(text, 1536)));
    expect(res.usage).toEqual({ prompt_tokens: countTokens(text), total_tokens: countTokens(text) });
    expectCommonHeaders(response.headers);
  });

  it('embeds an array of strings in order, summing usage', async () => {
    const input = ['first text', 'second, longer text with more tokens', 'third'];
    const res = await openai.embeddings.create({ model: MODEL, input });
    expect(res.data.map((d) => d.index)).toEqual([0, 1, 2]);
    for (const [i, t] of input.entries()) {
      expect(Array.from(res.data[i]?.embedding ?? [])).toEqual(Array.from(embedText(t, 1536)));
    }
    const tokens = input.reduce((s, t) => s + countTokens(t), 0);
    expect(res.usage).toEqual({ prompt_tokens: tokens, total_tokens: tokens });
  });

  it('embeds token arrays like the text they encode, billing their length', async () => {
    const texts = ['hello token world', 'another one'];
    const ids = texts.map((t) => encode(t));
    const single = await openai.embeddings.create({ model: MODEL, input: ids[0] as number[] });
    expect(Array.from(single.data[0]?.embedding ?? [])).toEqual(Array.from(embedText(texts[0] as string, 1536)));
    expect(single.usage.prompt_tokens).toBe(ids[0]?.length);
    const many = await openai.embeddings.create({ model: MODEL, input: ids });
    expect(many.data).toHaveLength(2);
    expect(Array.from(many.data[1]?.embedding ?? [])).toEqual(Array.from(embedText(texts[1] as string, 1536)));
    expect(many.usage.total_tokens).toBe((ids[0]?.length ?? 0) + (ids[1]?.length ?? 0));
  });

  it('returns the same values as float and as base64 (float32 little-endian)', async () => {
    const input = ['float versus base64', 'second input'];
    const asFloat = await openai.embeddings.create({ model: MODEL, input, encoding_format: 'float' });
    const asDefault = await openai.embeddings.create({ model: MODEL, input });
    const rawB64 = await post(emu, '/embeddings', { model: MODEL, input, encoding_format: 'base64' });
    for (let i = 0; i < input.length; i++) {
      const f = asFloat.data[i]?.embedding as number[];
      expect(Array.isArray(f)).toBe(true);
      expect(Array.from(asDefault.data[i]?.embedding ?? [])).toEqual(f);
      const decoded = Array.from(base64ToFloat32(rawB64.body.data[i].embedding));
      expect(decoded).toHaveLength(f.length);
      for (const [j, v] of decoded.entries()) expect(v).toBe(Math.fround(f[j] as number));
    }
  });

  it('honours dimensions for text-embedding-3 models and model default sizes', async () => {
    const small = await openai.embeddings.create({ model: MODEL, input: 'short', dimensions: 256 });
    expect(small.data[0]?.embedding).toHaveLength(256);
    const large = await openai.embeddings.create({ model: 'text-embedding-3-large', input: 'large' });
    expect(large.data[0]?.embedding).toHaveLength(3072);
    const ada = await openai.embeddings.create({ model: 'text-embedding-ada-002', input: 'ada' });
    expect(ada.data[0]?.embedding).toHaveLength(1536);
    const v = small.data[0]?.embedding ?? [];
    expect(Math.sqrt(v.reduce((s, x) => s + x * x, 0))).toBeCloseTo(1, 5);
  });

  it('answers raw JSON that matches the spec schema, with the common headers', async () => {
    const raw = await post(emu, '/embeddings', {
      model: MODEL,
      input: ['a', 'b'],
      encoding_format: 'float',
      user: 'u1',
    });
    expect(raw.status).toBe(200);
    validateSchema('CreateEmbeddingResponse', raw.body);
    expectCommonHeaders(raw.headers);
    expect(() => validateSchema('CreateEmbeddingResponse', { ...raw.body, usage: undefined })).toThrow(/usage/);
  });

  it('rejects bad dimensions', async () => {
    expectError(await post(emu, '/embeddings', { model: 'text-embedding-ada-002', input: 'x', dimensions: 512 }), 400, {
      message: 'This model does not support specifying dimensions.',
      type: 'invalid_request_error',
      code: null,
    });
    for (const dimensions of [0, 1537, 1.5, '8']) {
      const raw = await post(emu, '/embeddings', { model: MODEL, input: 'x', dimensions });
      expectError(raw, 400, { message: /dimensions/, type: 'invalid_request_error', code: null });
    }
    await expect(openai.embeddings.create({ model: MODEL, input: 'x', dimensions: 2000 })).rejects.toBeInstanceOf(
      OpenAI.BadRequestError,
    );
  });

  it('rejects an unknown model with 404 model_not_found', async () => {
    const err = await openai.embeddings.create({ model: 'text-embedding-4-huge', input: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((err as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('model_not_found');
    const raw = await post(emu, '/embeddings', { model: 'nope', input: 'x' });
    expectError(raw, 404, {
      message: 'The model `nope` does not exist or you do not have access to it.',
      type: 'invalid_request_error',
      code: 'model_not_found',
    });
    expectCommonHeaders(raw.headers);
  });

  it('rejects malformed and incomplete requests', async () => {
    const invalidInput =
      "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.";
    expectError(await post(emu, '/embeddings', '{"model":'), 400, {
      message: /^We could not parse the JSON body of your request/,
      type: 'invalid_request_error',
      code: null,
    });
    expectError(await post(emu, '/embeddings', { input: 'x' }), 400, {
      message: 'you must provide a model parameter',
      type: 'invalid_request_error',
      code: null,
    });
    expectError(await post(emu, '/embeddings', { model: MODEL }), 400, {
      message: "Missing required parameter: 'input'.",
      type: 'invalid_request_error',
      code: 'missing_required_parameter',
    });
    expectError(await post(emu, '/embeddings', { model: MODEL, input: 'x', temperature: 1 }), 400, {
      message: 'Unrecognized request argument supplied: temperature',
      type: 'invalid_request_error',
      code: null,
    });
    for (const input of [[], [1, 'a'], [[]], [-1], [1.5], { text: 'x' }, 42]) {
      expectError(await post(emu, '/embeddings', { model: MODEL, input }), 400, {
        message: invalidInput,
        type: 'invalid_request_error',
        code: null,
      });
    }
    expectError(await post(emu, '/embeddings', { model: MODEL, input: 'x', encoding_format: 'int8' }), 400, {
      message: `"int8" is not one of ['float', 'base64'] - 'encoding_format'`,
      type: 'invalid_request_error',
      code: null,
    });
  });
});

describe('POST /v1/embeddings: request limits (docs/openai-facts.md "Embeddings")', () => {
  let emu: RunningEmulator;
  let openai: OpenAI;
  const invalidInput =
    "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.";
  beforeAll(async () => {
    emu = await startEmulator();
    openai = client(emu);
  });
  afterAll(() => emu.close());

  it('accepts 2048 inputs and rejects 2049', async () => {
    const ok = await openai.embeddings.create({
      model: MODEL,
      input: Array.from({ length: 2048 }, (_, i) => `t${i}`),
      dimensions: 8,
    });
    expect(ok.data).toHaveLength(2048);
    expect(ok.data[2047]?.index).toBe(2047);
    const raw = await post(emu, '/embeddings', { model: MODEL, input: Array.from({ length: 2049 }, () => 'a') });
    expectError(raw, 400, { message: invalidInput, type: 'invalid_request_error', code: null });
    expectCommonHeaders(raw.headers);
  });

  it('rejects an empty string, alone or in an array', async () => {
    for (const input of ['', ['ok', '']]) {
      expectError(await post(emu, '/embeddings', { model: MODEL, input }), 400, {
        message: invalidInput,
        type: 'invalid_request_error',
        code: null,
      });
    }
    await expect(openai.embeddings.create({ model: MODEL, input: '' })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
  });

  it('accepts an 8191-token input and rejects a longer one with the context-length body', async () => {
    const ok = await openai.embeddings.create({ model: MODEL, input: Array.from({ length: 8191 }, () => 15339) });
    expect(ok.usage.prompt_tokens).toBe(8191);
    const text = ' hello'.repeat(9000);
    const n = countTokens(text);
    expect(n).toBeGreaterThan(8191);
    expectError(await post(emu, '/embeddings', { model: MODEL, input: ['short', text] }), 400, {
      message: `This model's maximum context length is 8192 tokens, however you requested ${n} tokens (${n} in your prompt; 0 for the completion). Please reduce your prompt; or completion length.`,
      type: 'invalid_request_error',
      code: null,
    });
    const tokens = await post(emu, '/embeddings', { model: MODEL, input: [Array.from({ length: 8192 }, () => 15339)] });
    expect(tokens.body.error.message).toMatch(/however you requested 8192 tokens/);
  });

  it('rejects a request over 300,000 tokens summed with max_tokens_per_request', async () => {
    const input = Array.from({ length: 37 }, () => Array.from({ length: 8191 }, () => 15339)); // 303,067 tokens
    const raw = await post(emu, '/embeddings', { model: MODEL, input });
    expectError(raw, 400, {
      message: 'Requested 303067 tokens, max 300000 tokens per request',
      type: 'max_tokens_per_request',
      code: 'max_tokens_per_request',
    });
    const before = emu.stats().tokensAccepted;
    const ok = await post(emu, '/embeddings', { model: MODEL, input: input.slice(0, 36), dimensions: 4 }); // 294,876
    expect(ok.status).toBe(200);
    expect(emu.stats().tokensAccepted - before).toBe(36 * 8191);
  });
});

describe('authentication, routing and server hygiene', () => {
  let emu: RunningEmulator;
  beforeAll(async () => {
    emu = await startEmulator({ maxBodyBytes: 10_000 });
  });
  afterAll(() => emu.close());

  it('answers 401 without a Bearer key, and invalid_api_key for a wrong one', async () => {
    const body = { model: MODEL, input: 'x' };
    const missing = await post(emu, '/embeddings', body, { 'content-type': 'application/json' });
    expectError(missing, 401, { message: /^You didn't provide an API key/, type: 'invalid_request_error', code: null });
    const empty = await post(emu, '/embeddings', body, {
      authorization: 'Bearer ',
      'content-type': 'application/json',
    });
    expect(empty.status).toBe(401);
    const basic = await post(emu, '/embeddings', body, {
      authorization: 'Basic abc',
      'content-type': 'application/json',
    });
    expectError(basic, 401, {
      message: /^Incorrect API key provided/,
      type: 'invalid_request_error',
      code: 'invalid_api_key',
    });

    emu.configure({ apiKey: 'sk-the-right-key' });
    try {
      const err = await client(emu, { apiKey: 'sk-the-wrong-key' })
        .embeddings.create({ model: MODEL, input: 'x' })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
      expect((err as InstanceType<typeof OpenAI.AuthenticationError>).code).toBe('invalid_api_key');
      const ok = await client(emu, { apiKey: 'sk-the-right-key' }).embeddings.create({ model: MODEL, input: 'x' });
      expect(ok.data).toHaveLength(1);
    } finally {
      emu.configure({ apiKey: null });
    }
  });

  it('answers unknown routes with 404 Invalid URL', async () => {
    const raw = await post(emu, '/nothing-here', {});
    expectError(raw, 404, {
      message: 'Invalid URL (POST /v1/nothing-here)',
      type: 'invalid_request_error',
      code: null,
    });
    const get = await fetch(`${emu.url}/embeddings`, { headers: JSON_AUTH });
    expect(get.status).toBe(404);
    expectCommonHeaders(get.headers, false);
  });

  it('answers 413 to a body over the cap', async () => {
    const raw = await post(emu, '/embeddings', { model: MODEL, input: 'x'.repeat(20_000) });
    expectError(raw, 413, { message: /too large/, type: 'invalid_request_error', code: null });
  });
});

describe('rate limits (docs/openai-facts.md "Rate limits")', () => {
  let emu: RunningEmulator;
  let openai: OpenAI;
  beforeAll(async () => {
    emu = await startEmulator({ tpm: 100, rpm: 1000, windowMs: 1000 });
    openai = client(emu);
  });
  afterEach(() => {
    emu.configure({ tpm: 100, rpm: 1000, windowMs: 1000, insufficientQuota: false, sendRetryAfterMs: false });
    emu.reset();
  });
  afterAll(() => emu.close());

  const tokens = (n: number) => Array.from({ length: n }, () => 15339);

  it('reports usage in the x-ratelimit-* headers', async () => {
    const raw = await post(emu, '/embeddings', { model: MODEL, input: tokens(30) });
    expect(raw.status).toBe(200);
    expect(raw.headers.get('x-ratelimit-limit-requests')).toBe('1000');
    expect(raw.headers.get('x-ratelimit-limit-tokens')).toBe('100');
    expect(raw.headers.get('x-ratelimit-remaining-requests')).toBe('999');
    expect(raw.headers.get('x-ratelimit-remaining-tokens')).toBe('70');
    expect(raw.headers.get('x-ratelimit-reset-tokens')).toMatch(/^\d+ms$|^1s$/);
  });

  it('answers 429 tokens with the service body and Retry-After, consuming nothing', async () => {
    await openai.embeddings.create({ model: MODEL, input: tokens(70) });
    const raw = await post(emu, '/embeddings', { model: MODEL, input: tokens(40) });
    expectError(raw, 429, {
      message:
        /^Rate limit reached for text-embedding-3-small in organization org-emulator on tokens per min \(TPM\): Limit 100, Used 70, Requested 40\. Please try again in (\d+ms|1s)\. Visit https:\/\/platform\.openai\.com\/account\/rate-limits to learn more\.$/,
      type: 'tokens',
      code: 'rate_limit_exceeded',
    });
    expect(raw.headers.get('retry-after')).toBe('1');
    expect(raw.headers.get('retry-after-ms')).toBeNull();
    expect(raw.headers.get('x-ratelimit-remaining-tokens')).toBe('30');
    expectCommonHeaders(raw.headers);

    const err = await openai.embeddings.create({ model: MODEL, input: tokens(40) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect((err as InstanceType<typeof OpenAI.RateLimitError>).type).toBe('tokens');

    const stats = emu.stats();
    expect(stats.tokensAccepted).toBe(70);
    expect(stats.rateLimited.tokens).toBe(2);
    expect(stats.requests.byStatus).toEqual({ '200': 1, '429': 2 });
    // 30 tokens still fit: the refused requests consumed nothing
    expect((await post(emu, '/embeddings', { model: MODEL, input: tokens(30) })).status).toBe(200);
  });

  it('admits again once the window has rolled past (the SDK retries on its own)', async () => {
    await openai.embeddings.create({ model: MODEL, input: tokens(90) });
    emu.configure({ sendRetryAfterMs: true });
    const raw = await post(emu, '/embeddings', { model: MODEL, input: tokens(20) });
    expect(raw.status).toBe(429);
    const waitMs = Number(raw.headers.get('retry-after-ms'));
    expect(waitMs).toBeGreaterThan(0);
    expect(waitMs).toBeLessThanOrEqual(1000);
    const started = Date.now();
    const res = await client(emu, { maxRetries: 3 }).embeddings.create({ model: MODEL, input: tokens(20) });
    expect(res.usage.total_tokens).toBe(20);
    expect(Date.now() - started).toBeGreaterThanOrEqual(waitMs - 100);
  });

  it('answers 429 requests on RPM', async () => {
    emu.configure({ rpm: 2, tpm: 1_000_000 });
    for (let i = 0; i < 2; i++) expect((await post(emu, '/embeddings', { model: MODEL, input: 'x' })).status).toBe(200);
    const raw = await post(emu, '/embeddings', { model: MODEL, input: 'x' });
    expectError(raw, 429, {
      message:
        /^Rate limit reached for text-embedding-3-small in organization org-emulator on requests per min \(RPM\): Limit 2, Used 2, Requested 1\. Please try again in/,
      type: 'requests',
      code: 'rate_limit_exceeded',
    });
    expect(raw.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(Number(raw.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(emu.stats().rateLimited.requests).toBe(1);
  });

  it('keeps separate windows per model', async () => {
    await openai.embeddings.create({ model: MODEL, input: tokens(100) });
    const other = await openai.embeddings.create({
      model: 'text-embedding-3-large',
      input: tokens(100),
      dimensions: 4,
    });
    expect(other.usage.total_tokens).toBe(100);
    expect(Object.keys(emu.stats().windows.byModel)).toEqual(['text-embedding-3-large', MODEL]);
  });

  it('refuses a request larger than the whole TPM without Retry-After', async () => {
    const raw = await post(emu, '/embeddings', { model: MODEL, input: tokens(101) });
    expectError(raw, 429, {
      message: /^Request too large for text-embedding-3-small/,
      type: 'tokens',
      code: 'rate_limit_exceeded',
    });
    expect(raw.headers.get('retry-after')).toBeNull();
  });

  it('answers insufficient_quota to everything, without Retry-After', async () => {
    emu.configure({ insufficientQuota: true });
    const raw = await post(emu, '/embeddings', { model: MODEL, input: 'x' });
    expect(raw.status).toBe(429);
    expect(raw.body).toEqual({
      error: {
        message:
          'You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.',
        type: 'insufficient_quota',
        param: null,
        code: 'insufficient_quota',
      },
    });
    validateSchema('ErrorResponse', raw.body);
    expect(raw.headers.get('retry-after')).toBeNull();
    expectCommonHeaders(raw.headers);
    const err = await openai.embeddings.create({ model: MODEL, input: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect((err as InstanceType<typeof OpenAI.RateLimitError>).code).toBe('insufficient_quota');
    expect(emu.stats().rateLimited.insufficient_quota).toBe(2);
    expect(emu.stats().tokensAccepted).toBe(0);
  });

  it('never lets a window exceed the limits: a client pacing on the headers gets no 429', async () => {
    emu.configure({ tpm: 300, windowMs: 500 });
    let remaining = 300;
    let resetMs = 0;
    const started = Date.now();
    for (let i = 0; i < 12; i++) {
      if (remaining < 100) await sleep(resetMs + 5);
      const { response } = await openai.embeddings.create({ model: MODEL, input: tokens(100) }).withResponse();
      remaining = Number(response.headers.get('x-ratelimit-remaining-tokens'));
      resetMs = readGoDuration(response.headers.get('x-ratelimit-reset-tokens') ?? '0s');
    }
    const stats = emu.stats();
    expect(stats.rateLimited.tokens).toBe(0);
    expect(stats.tokensAccepted).toBe(1200);
    expect(stats.windows.peakTokens).toBeGreaterThanOrEqual(200);
    expect(stats.windows.peakTokens).toBeLessThanOrEqual(stats.limits.tpm);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000); // 4 windows of 300 tokens
  });

  it('never lets a window exceed the limits under a concurrent burst either', async () => {
    emu.configure({ tpm: 250, rpm: 5, windowMs: 5000 });
    const results = await Promise.all(
      Array.from({ length: 20 }, () => post(emu, '/embeddings', { model: MODEL, input: tokens(40) })),
    );
    const ok = results.filter((r) => r.status === 200).length;
    expect(ok).toBe(5); // RPM binds first: 5 × 40 = 200 ≤ 250
    const stats = emu.stats();
    expect(stats.windows.peakRequests).toBe(5);
    expect(stats.windows.peakTokens).toBeLessThanOrEqual(250);
    expect(stats.rateLimited.requests).toBe(15);
  });
});

describe('latency and injected faults', () => {
  let emu: RunningEmulator;
  beforeAll(async () => {
    emu = await startEmulator({ seed: 42 });
  });
  afterEach(() => {
    emu.configure({ errorRate: 0, dropRate: 0, slowRate: 0, latencyMs: 0, latencyPerTokenMs: 0 });
    emu.reset();
  });
  afterAll(() => emu.close());

  it('delays responses by latencyMs + latencyPerTokenMs × tokens', async () => {
    emu.configure({ latencyMs: 150, latencyPerTokenMs: 0.05 });
    let started = performance.now();
    const raw = await post(emu, '/embeddings', { model: MODEL, input: [Array.from({ length: 2000 }, () => 15339)] });
    expect(raw.status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(245); // 150 + 2000 × 0.05
    expect(Number(raw.headers.get('openai-processing-ms'))).toBeGreaterThanOrEqual(249);
    // Admin routes are never delayed: with a 5 s latency configured, stats
    // answers well before it (a margin wide enough for a loaded machine).
    emu.configure({ latencyMs: 5_000 });
    started = performance.now();
    await fetch(`${emu.url.replace(/\/v1$/, '')}/_emulator/stats`);
    expect(performance.now() - started).toBeLessThan(2_500);
  });

  it('answers injected 500/503 with server_error bodies, without consuming budget', async () => {
    emu.configure({ errorRate: 1 });
    const statuses = new Set<number>();
    for (let i = 0; i < 12; i++) {
      const raw = await post(emu, '/embeddings', { model: MODEL, input: 'x' });
      expectError(raw, raw.status, { message: /server|overloaded/, type: 'server_error', code: null });
      expectCommonHeaders(raw.headers);
      statuses.add(raw.status);
    }
    expect([...statuses].sort()).toEqual([500, 503]);
    const err = await client(emu)
      .embeddings.create({ model: MODEL, input: 'x' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    const stats = emu.stats();
    expect(stats.faults.error500 + stats.faults.error503).toBe(13);
    expect(stats.tokensAccepted).toBe(0);
    expect(stats.requestsAccepted).toBe(0);
  });

  it('drops connections without a response', async () => {
    emu.configure({ dropRate: 1 });
    const err = await client(emu)
      .embeddings.create({ model: MODEL, input: 'x' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIConnectionError);
    await expect(post(emu, '/embeddings', { model: MODEL, input: 'x' })).rejects.toThrow();
    const stats = emu.stats();
    expect(stats.faults.drop).toBe(2);
    expect(stats.requests.total).toBe(2);
    expect(stats.requests.byStatus).toEqual({});
    expect(stats.tokensAccepted).toBe(0);
  });

  it('makes slow responses exceed a client timeout (and bills them, as the service would)', async () => {
    emu.configure({ slowRate: 1, slowMs: 20_000 });
    const started = performance.now();
    const err = await client(emu, { timeout: 300 })
      .embeddings.create({ model: MODEL, input: 'x' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
    expect(performance.now() - started).toBeLessThan(10_000); // the client's deadline, not the 20 s response
    expect(emu.stats().faults.slow).toBe(1);
    expect(emu.stats().tokensAccepted).toBe(1);
    await sleep(1300); // the abandoned response is not delivered, so not counted
    expect(emu.stats().requests.byStatus).toEqual({});
  });

  it('reproduces the same fault sequence from the same seed', async () => {
    emu.configure({ errorRate: 0.5, seed: 7 });
    const run = async () => {
      emu.reset();
      const out: number[] = [];
      for (let i = 0; i < 16; i++)
        out.push((await post(emu, '/embeddings', { model: MODEL, input: 'x', dimensions: 4 })).status);
      return out;
    };
    const first = await run();
    expect(new Set(first).size).toBeGreaterThan(1);
    expect(await run()).toEqual(first);
  });
});

describe('admin endpoints', () => {
  let emu: RunningEmulator;
  beforeAll(async () => {
    emu = await startEmulator();
  });
  afterAll(() => emu.close());

  it('reports stats, patches config, validates it, and resets', async () => {
    await post(emu, '/embeddings', { model: MODEL, input: ['one', 'two three'] });
    let stats = (await (await admin(emu, '/_emulator/stats')).json()) as EmulatorStats;
    expect(stats).toMatchObject({
      requests: { total: 1, byStatus: { '200': 1 } },
      requestsAccepted: 1,
      inputsAccepted: 2,
      tokensAccepted: 3,
      rateLimited: { requests: 0, tokens: 0, insufficient_quota: 0 },
      faults: { error500: 0, error503: 0, drop: 0, slow: 0 },
      limits: { rpm: 3000, tpm: 1_000_000, windowMs: 60_000 },
      windows: { peakRequests: 1, peakTokens: 3 },
    });

    const patched = await admin(emu, '/_emulator/config', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tpm: 5000, windowMs: 2000 }),
    });
    expect(patched.status).toBe(200);
    expect(await patched.json()).toMatchObject({ tpm: 5000, windowMs: 2000, rpm: 3000 });
    expect(emu.settings().tpm).toBe(5000);
    expect(((await (await admin(emu, '/_emulator/config')).json()) as EmulatorSettings).windowMs).toBe(2000);

    const bad = await admin(emu, '/_emulator/config', {
      method: 'POST',
      body: JSON.stringify({ tpm: -1, bogus: true }),
    });
    expect(bad.status).toBe(400);
    const badBody = (await bad.json()) as OpenAIErrorBody;
    validateSchema('ErrorResponse', badBody);
    expect(badBody.error.message).toMatch(/tpm/);
    expect(badBody.error.message).toMatch(/bogus/);
    expect(emu.settings().tpm).toBe(5000);

    const reset = await admin(emu, '/_emulator/reset', { method: 'POST' });
    expect(reset.status).toBe(200);
    stats = (await (await admin(emu, '/_emulator/stats')).json()) as EmulatorStats;
    expect(stats).toMatchObject({
      requests: { total: 0, byStatus: {} },
      tokensAccepted: 0,
      windows: { peakTokens: 0, byModel: {} },
    });
    expect(stats.limits.tpm).toBe(5000);
  });

  it('close() returns promptly even with keep-alive sockets and a pending slow response', async () => {
    const other = await startEmulator({ slowRate: 1, slowMs: 30_000 });
    await fetch(`${other.url.replace(/\/v1$/, '')}/_emulator/stats`); // leaves a keep-alive socket
    const pending = post(other, '/embeddings', { model: MODEL, input: 'x' }).catch((e: unknown) => e);
    await sleep(50);
    const started = performance.now();
    await other.close();
    expect(performance.now() - started).toBeLessThan(10_000); // not the 30 s pending response
    expect(await pending).toBeInstanceOf(Error);
  });
});
