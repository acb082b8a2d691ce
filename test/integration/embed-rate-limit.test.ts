/**
 * One RPM/TPM budget shared by four worker processes: real `sluice worker
 * embed` processes, real Redis, real PostgreSQL, the emulator over HTTP with a
 * tight limit on a short window. The emulator's own rolling-window stats
 * must never exceed the limit; 429s stay ≤ 1%; every chunk embedded once.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '@sluice/openai-emulator';
import { waitForRun } from '../../src/ingest/ingest.ts';
import { newRunId } from '../../src/runs/tracker.ts';
import { spawnCli } from '../helpers/cli.ts';
import { openTestRuntime, type TestRuntime } from '../helpers/runtime.ts';
import { seedDocuments } from '../helpers/seed.ts';

const WINDOW_MS = 2000;
const TPM = 40_000; // tokens per 2 s window
const RPM = 40; // requests per 2 s window
const PROCESSES = 4;

let emu: RunningEmulator;
let t: TestRuntime;
const children: ChildProcess[] = [];

beforeAll(async () => {
  emu = await startEmulator({ rpm: RPM, tpm: TPM, windowMs: WINDOW_MS, latencyMs: 20, latencyPerTokenMs: 0.005 });
  t = await openTestRuntime(
    {
      OPENAI_BASE_URL: emu.url,
      OPENAI_API_KEY: 'test-key',
      EMBEDDING_RPM: String(RPM),
      EMBEDDING_TPM: String(TPM),
      EMBEDDING_RATE_WINDOW_MS: String(WINDOW_MS),
    },
    { workers: false },
  );
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await t?.close();
  await emu?.close();
});

function waitExit(c: ChildProcess): Promise<number | null> {
  return new Promise((resolve) =>
    c.exitCode !== null ? resolve(c.exitCode) : c.once('exit', (code) => resolve(code)),
  );
}

describe('shared embedding budget across processes', () => {
  it('stays under the limit with 4 processes and embeds every chunk exactly once', async () => {
    const docs = await seedDocuments(t.rt.db.pool, 'budget', 200, 12);
    const totalChunks = docs.reduce((s, d) => s + d.hashes.length, 0);
    const totalTokens = docs.reduce((s, d) => s + d.tokens, 0);
    const runId = newRunId();
    const { model, dimensions } = t.rt.config.embedding;
    await t.rt.producer.add(
      'embed',
      docs.map((d, i) => ({
        jobId: `embed-${runId}-${i}`,
        payload: { runId, collection: 'budget', source: d.uri, model, dimensions, chunkHashes: d.hashes },
      })),
      runId,
    );
    emu.reset();

    for (let i = 0; i < PROCESSES; i++) {
      const c = spawnCli(['worker', 'embed'], {
        ...t.iso.env,
        OPENAI_BASE_URL: emu.url,
        OPENAI_API_KEY: 'test-key',
        EMBEDDING_RPM: String(RPM),
        EMBEDDING_TPM: String(TPM),
        EMBEDDING_RATE_WINDOW_MS: String(WINDOW_MS),
        EMBED_CONCURRENCY: '4',
      });
      c.stderr!.on('data', () => {});
      c.stdout!.on('data', () => {});
      children.push(c);
    }
    const started = Date.now();
    const progress = await waitForRun(t.rt, runId, { pollMs: 200 });
    const seconds = (Date.now() - started) / 1000;
    expect(progress.failed).toBe(0);

    const stats = emu.stats();
    const byModel = stats.windows.byModel[model]!;
    console.log(
      `4 processes: ${totalChunks} chunks, ${totalTokens} tokens in ${seconds.toFixed(1)} s; requests ${stats.requests.total}, 429s ${stats.requests.byStatus['429'] ?? 0}; peak window ${byModel.peakTokens}/${TPM} tokens, ${byModel.peakRequests}/${RPM} requests`,
    );
    expect(byModel.peakTokens).toBeLessThanOrEqual(TPM);
    expect(byModel.peakRequests).toBeLessThanOrEqual(RPM);
    expect((stats.requests.byStatus['429'] ?? 0) / stats.requests.total).toBeLessThanOrEqual(0.01);
    // Exactly once: the emulator accepted each chunk's tokens once, and each has one row.
    expect(stats.inputsAccepted).toBe(totalChunks);
    expect(stats.tokensAccepted).toBe(totalTokens);
    const { rows } = await t.rt.db.pool.query(
      `SELECT count(*)::int AS n, count(DISTINCT chunk_hash)::int AS d FROM embeddings`,
    );
    expect(rows[0]).toEqual({ n: totalChunks, d: totalChunks });
    // The limit held the pace: the run cannot be faster than the budget allows.
    expect(seconds).toBeGreaterThan((totalTokens / TPM - 1) * (WINDOW_MS / 1000));

    for (const c of children) c.kill('SIGTERM');
    const codes = await Promise.all(children.map(waitExit));
    expect(codes).toEqual(Array(PROCESSES).fill(0)); // drained cleanly on SIGTERM
  }, 180_000);
});
