/**
 * Request coalescing against the emulator over HTTP: concurrent jobs'
 * requests share API requests within the limits, each part gets exactly its
 * own vectors and its share of the bill, a 400 caused by one part fails only
 * that part, and an account-level error reaches every part. A request
 * answered 5xx is no longer on the wire while its retry waits: its parts can
 * be aborted then (a draining worker does not wait for the retry), and each
 * part hears that its attempt went unbilled before the wait.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { countTokens } from '../../src/chunk/index.ts';
import { EmbeddingCoalescer } from '../../src/embed/coalescer.ts';
import { createEmbeddings, Embedder, type EmbeddingResponse } from '../../src/embed/embedder.ts';
import { startEmulator, type RunningEmulator } from '@sluice/openai-emulator';
import { PermanentError } from '../../src/errors/index.ts';
import { until } from '../helpers/wait.ts';

const target = { model: 'text-embedding-3-small', dimensions: 64 };
let emu: RunningEmulator;
let openai: OpenAI;
let embedder: Embedder;

/** `n` parts of `size` distinct texts each, with their real token counts. */
function parts(n: number, size: number, tag: string): Array<{ texts: string[]; tokens: number }> {
  return Array.from({ length: n }, (_, i) => {
    const texts = Array.from(
      { length: size },
      (_, j) => `${tag} part ${i} text ${j}: the quick brown fox ${i * size + j}`,
    );
    return { texts, tokens: texts.reduce((s, t) => s + countTokens(t), 0) };
  });
}

/**
 * Three parts merged into one request that the emulator answers 5xx; returns
 * once each part heard its attempt went unbilled, while the one retry (after
 * `retryMinMs`) waits. The emulator keeps failing until the caller says.
 */
async function threePartsInRetryBackoff(retryMinMs: number, tag: string) {
  const retrying = new Embedder(openai, { retries: 1, retryMinMs });
  const c = new EmbeddingCoalescer(retrying, { maxInputs: 2048, maxTokens: 300_000, lingerMs: 20 });
  emu.configure({ errorRate: 1 });
  const ps = parts(3, 2, tag);
  const aborts = ps.map(() => new AbortController());
  const unbilled: number[] = [];
  const pending = ps.map((p, i) =>
    c.embed(target, p.texts, p.tokens, {
      signal: aborts[i]!.signal,
      afterUnbilled: async () => {
        unbilled.push(i);
      },
    }),
  );
  await until(async () => (unbilled.length === 3 ? true : undefined), 'every part to hear it went unbilled', 10_000);
  return { pending, aborts, unbilled };
}

beforeAll(async () => {
  emu = await startEmulator({ rpm: 100_000, tpm: 100_000_000 });
  openai = new OpenAI({ baseURL: emu.url, apiKey: 'test-key', maxRetries: 0 });
  embedder = new Embedder(openai, { retries: 0 });
});

afterAll(async () => {
  await emu?.close();
});

beforeEach(() => {
  emu.configure({ errorRate: 0, latencyMs: 0 });
  emu.reset();
});

describe('EmbeddingCoalescer', () => {
  it('merges concurrent parts into one request and hands each part its own vectors and bill share', async () => {
    const c = new EmbeddingCoalescer(embedder, { maxInputs: 2048, maxTokens: 300_000, lingerMs: 50 });
    const ps = parts(40, 3, 'merge');
    const results = await Promise.all(ps.map((p) => c.embed(target, p.texts, p.tokens)));
    const stats = emu.stats();
    expect(stats.requests.total).toBe(1);
    expect(stats.inputsAccepted).toBe(120);
    // The same texts embedded alone give the same vectors: nothing was shuffled between parts.
    for (const i of [0, 17, 39]) {
      const alone = await createEmbeddings(openai, target, ps[i]!.texts);
      expect(results[i]!.vectors).toEqual(alone.vectors);
    }
    const billed = results.reduce((s, r) => s + r.promptTokens, 0);
    expect(billed).toBe(ps.reduce((s, p) => s + p.tokens, 0));
    for (const [i, r] of results.entries()) expect(r.promptTokens).toBe(ps[i]!.tokens);
  });

  it("writes every part's ledger row in one call right before the request, after handing each part its id", async () => {
    const allocated: Array<{ n: number; requestsBefore: number }> = [];
    const calls: Array<{ rows: number; requestsBefore: number; idsHanded: number }> = [];
    const written: string[] = [];
    const ids: string[] = [];
    const c = new EmbeddingCoalescer(embedder, {
      maxInputs: 2048,
      maxTokens: 300_000,
      lingerMs: 50,
      ledger: {
        allocate: async (n) => {
          allocated.push({ n, requestsBefore: emu.stats().requests.total });
          return Array.from({ length: n }, (_, i) => `row-${i}`);
        },
        write: async (rows) => {
          calls.push({
            rows: rows.length,
            requestsBefore: emu.stats().requests.total,
            idsHanded: ids.filter(Boolean).length,
          });
          written.push(...rows.map((r) => `${r.id}:${r.runId}`));
        },
      },
    });
    const ps = parts(10, 2, 'ledger');
    await Promise.all(
      ps.map((p, i) =>
        c.embed(target, p.texts, p.tokens, {
          intent: { model: target.model, runId: String(i), tokens: p.tokens, usd: 0 },
          onIntent: (id) => {
            ids[i] = id;
          },
        }),
      ),
    );
    expect(allocated).toEqual([{ n: 10, requestsBefore: 0 }]);
    // Every part knew its id before the write: a write that fails without a reply can still be voided.
    expect(calls).toEqual([{ rows: 10, requestsBefore: 0, idsHanded: 10 }]);
    expect(ids).toEqual(ps.map((_, i) => `row-${i}`));
    expect(written).toEqual(ps.map((_, i) => `row-${i}:${i}`));
    expect(emu.stats().requests.total).toBe(1);
  });

  it('never exceeds the input and token limits of a request', async () => {
    const c = new EmbeddingCoalescer(embedder, { maxInputs: 10, maxTokens: 300_000, lingerMs: 50 });
    const results = await Promise.all(parts(40, 2, 'inputs').map((p) => c.embed(target, p.texts, p.tokens)));
    expect(results.every((r) => r.vectors.length === 2)).toBe(true);
    expect(emu.stats().requests.total).toBe(8); // 5 parts of 2 inputs per request

    emu.reset();
    const ps = parts(12, 1, 'tokens');
    const limit = Math.max(...ps.map((p) => p.tokens)) * 3; // room for three parts at most
    const byTokens = new EmbeddingCoalescer(embedder, { maxInputs: 2048, maxTokens: limit, lingerMs: 50 });
    await Promise.all(ps.map((p) => byTokens.embed(target, p.texts, p.tokens)));
    expect(emu.stats().requests.total).toBeGreaterThanOrEqual(4);
  });

  it('sends every part on its own when lingerMs is 0', async () => {
    const c = new EmbeddingCoalescer(embedder, { maxInputs: 2048, maxTokens: 300_000, lingerMs: 0 });
    await Promise.all(parts(6, 2, 'off').map((p) => c.embed(target, p.texts, p.tokens)));
    expect(emu.stats().requests.total).toBe(6);
  });

  it('fails only the part whose input the API refused (400), after sending the parts alone', async () => {
    const c = new EmbeddingCoalescer(embedder, { maxInputs: 2048, maxTokens: 300_000, lingerMs: 50 });
    const good = parts(5, 2, 'fine');
    const tooLong = 'word '.repeat(9000); // over the 8,192-token input limit
    const settled = await Promise.allSettled([
      ...good.map((p) => c.embed(target, p.texts, p.tokens)),
      c.embed(target, ['short', tooLong], 9001),
    ]);
    const bad = settled.pop()!;
    expect(bad.status).toBe('rejected');
    expect((bad as PromiseRejectedResult).reason).toBeInstanceOf(PermanentError);
    expect(String((bad as PromiseRejectedResult).reason.message)).toMatch(/maximum context length is 8192 tokens/);
    expect(settled.every((s) => s.status === 'fulfilled')).toBe(true);
    expect((settled as Array<PromiseFulfilledResult<EmbeddingResponse>>).map((s) => s.value.vectors.length)).toEqual([
      2, 2, 2, 2, 2,
    ]);
    expect(emu.stats().requests.total).toBe(1 + 6); // the merged request, then each part alone
  });

  it('drops parts aborted while their 5xx-answered request waits to be retried; each heard it was unbilled first', async () => {
    // The retry backs off 30 s: a part must not wait for it once aborted.
    const { pending, aborts, unbilled } = await threePartsInRetryBackoff(30_000, 'drain');
    expect(unbilled.sort()).toEqual([0, 1, 2]);
    const aborted = Date.now();
    for (const a of aborts) a.abort(new Error('the worker process is draining'));
    const settled = await Promise.allSettled(pending);
    const ms = Date.now() - aborted;
    console.log(
      `aborted during the retry's backoff: all 3 parts left in ${ms} ms (backoff 30 s), ${emu.stats().requests.total} request sent`,
    );
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(String((settled[0] as PromiseRejectedResult).reason?.message)).toMatch(/draining/);
    expect(ms).toBeLessThan(5_000);
    expect(emu.stats().requests.total).toBe(1);
  });

  it('sends the retry without a part aborted during the backoff', async () => {
    const { pending, aborts } = await threePartsInRetryBackoff(1_500, 'partial');
    emu.configure({ errorRate: 0 });
    aborts[0]!.abort(new Error('deadline'));
    const settled = await Promise.allSettled(pending);
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'fulfilled', 'fulfilled']);
    expect(emu.stats().requests.total).toBe(2);
    expect(emu.stats().inputsAccepted).toBe(4); // the retry carried the two parts left
  });

  it('gives every part the error of a request that failed for the account or the transport', async () => {
    emu.configure({ errorRate: 1 });
    const c = new EmbeddingCoalescer(embedder, { maxInputs: 2048, maxTokens: 300_000, lingerMs: 50 });
    const settled = await Promise.allSettled(parts(4, 2, 'down').map((p) => c.embed(target, p.texts, p.tokens)));
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
    expect(emu.stats().requests.total).toBe(1); // no per-part retry storm
  });
});
