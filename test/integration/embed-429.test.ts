/**
 * A 429 rate_limit_exceeded pauses the embed queue for the time the API
 * asks and retries without burning an attempt: with JOB_ATTEMPTS=1, a job
 * that spent its attempt on a 429 would fail. Another client of the same
 * organization fills the window first, so the budget cannot know about it.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '@sluice/openai-emulator';
import { waitForRun } from '../../src/ingest/ingest.ts';
import { newRunId } from '../../src/runs/tracker.ts';
import { openTestRuntime, type TestRuntime } from '../helpers/runtime.ts';
import { chunkText, seedDocuments } from '../helpers/seed.ts';

const WINDOW_MS = 3000;
const TPM = 12_000;

let emu: RunningEmulator;
let t: TestRuntime;

beforeAll(async () => {
  emu = await startEmulator({ tpm: TPM, rpm: 1000, windowMs: WINDOW_MS });
  t = await openTestRuntime({
    OPENAI_BASE_URL: emu.url,
    OPENAI_API_KEY: 'test-key',
    JOB_ATTEMPTS: '1',
    EMBEDDING_TPM: String(TPM),
    EMBEDDING_RATE_WINDOW_MS: String(WINDOW_MS),
  });
});

afterAll(async () => {
  await t?.close();
  await emu?.close();
});

describe('429 from the API', () => {
  it('pauses the queue and retries without burning attempts; every chunk embedded once', async () => {
    const docs = await seedDocuments(t.rt.db.pool, 'r429', 20, 4);
    const total = docs.reduce((s, d) => s + d.hashes.length, 0);
    // Another client fills the window: Sluice's budget has not seen it.
    const other = new OpenAI({ apiKey: 'other-app', baseURL: emu.url, maxRetries: 0 });
    emu.reset();
    const filler = await other.embeddings.create({
      model: 'text-embedding-3-small',
      input: Array.from({ length: 125 }, (_, i) => chunkText(998, i, 60)),
    });
    // Less room left than any of our requests needs (4 chunks of ~95 tokens each): the first one gets a 429.
    expect(filler.usage.prompt_tokens).toBeGreaterThan(TPM - 300);
    expect(filler.usage.prompt_tokens).toBeLessThanOrEqual(TPM);

    const runId = newRunId();
    const { model, dimensions } = t.rt.config.embedding;
    await t.rt.producer.add(
      'embed',
      docs.map((d, i) => ({
        jobId: `embed-${runId}-${i}`,
        payload: { runId, collection: 'r429', source: d.uri, model, dimensions, chunkHashes: d.hashes },
      })),
      runId,
    );
    const progress = await waitForRun(t.rt, runId, { pollMs: 100 });
    expect(progress.failed).toBe(0);
    const stats = emu.stats();
    expect(stats.rateLimited.tokens).toBeGreaterThan(0); // the 429 path was taken …
    expect(stats.inputsAccepted - 125).toBe(total); // … and every chunk was embedded exactly once
    const { rows } = await t.rt.db.pool.query(`SELECT count(*)::int AS n FROM embeddings`);
    expect(rows[0].n).toBe(total);
    console.log(
      `429s: ${stats.rateLimited.tokens} of ${stats.requests.total} requests; peak window ${stats.windows.peakTokens}/${TPM}`,
    );
  }, 60_000);
});
