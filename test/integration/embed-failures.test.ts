/**
 * Failure decisions of the embed stage against the emulator over HTTP:
 * injected 500/503s and dropped connections are retried until every chunk
 * is embedded exactly once; insufficient_quota fails jobs at once with the
 * API's message and one request per job; `retry-failed` brings them back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '@sluice/openai-emulator';
import { ingest, waitForRun } from '../../src/ingest/ingest.ts';
import { newRunId } from '../../src/runs/tracker.ts';
import { runCli } from '../helpers/cli.ts';
import { openTestRuntime, type TestRuntime } from '../helpers/runtime.ts';
import { seedDocuments } from '../helpers/seed.ts';
import { PG_MANUAL_DIR, requireManual, serveDirectory, type StaticServer } from '../helpers/static-server.ts';

let emu: RunningEmulator;
let t: TestRuntime;
let site: StaticServer;

beforeAll(async () => {
  requireManual();
  site = await serveDirectory(PG_MANUAL_DIR);
  // Limits well above the manual: this file is about faults, not pacing.
  emu = await startEmulator({ rpm: 100_000, tpm: 100_000_000, seed: 7 });
  t = await openTestRuntime({
    OPENAI_BASE_URL: emu.url,
    OPENAI_API_KEY: 'test-key',
    OPENAI_TIMEOUT_MS: '5000',
    EMBEDDING_RPM: '100000',
    EMBEDDING_TPM: '100000000',
    JOB_BACKOFF_MS: '200',
    EMBED_CONCURRENCY: '8',
  });
});

afterAll(async () => {
  await t?.close();
  await emu?.close();
  await site?.close();
});

describe('embedding through injected faults', () => {
  it('embeds every chunk of the manual exactly once with 10% 5xx and 2% dropped connections', async () => {
    emu.configure({ errorRate: 0.1, dropRate: 0.02 });
    emu.reset();
    const s = await ingest(t.rt, { collection: 'faults', sources: [`${site.url}/index.html`] });
    const stats = emu.stats();
    expect(s.failed).toEqual([]);
    expect(s.documents).toBe(1169);
    const { rows } = await t.rt.db.pool.query<{ n: number; d: number }>(
      `SELECT (SELECT count(*)::int FROM embeddings) AS n, (SELECT count(DISTINCT chunk_hash)::int FROM chunks) AS d`,
    );
    expect(rows[0]!.n).toBe(rows[0]!.d); // every chunk hash has its embedding …
    expect(stats.inputsAccepted).toBe(rows[0]!.d); // … sent to the API exactly once
    expect(stats.faults.error500 + stats.faults.error503 + stats.faults.drop).toBeGreaterThan(0);
    console.log(
      `faults: ${JSON.stringify(stats.faults)}; requests ${stats.requests.total}; inputs accepted ${stats.inputsAccepted} = unique chunks ${rows[0]!.d}`,
    );
    emu.configure({ errorRate: 0, dropRate: 0 });
  }, 600_000);
});

describe('insufficient_quota', () => {
  it('fails jobs at once with the quota message, one request per job, and retry-failed recovers them', async () => {
    const docs = await seedDocuments(t.rt.db.pool, 'quota', 6, 5);
    const runId = newRunId();
    const { model, dimensions } = t.rt.config.embedding;
    await t.rt.tracker.start(runId, { collection: 'quota' });
    emu.configure({ insufficientQuota: true });
    emu.reset();
    const started = Date.now();
    await t.rt.producer.add(
      'embed',
      docs.map((d, i) => ({
        jobId: `embed-${runId}-${i}`,
        payload: { runId, collection: 'quota', source: d.uri, model, dimensions, chunkHashes: d.hashes },
      })),
      runId,
    );
    const progress = await waitForRun(t.rt, runId, { pollMs: 100 });
    const seconds = (Date.now() - started) / 1000;
    expect(progress.failed).toBe(docs.length);
    expect(seconds).toBeLessThan(10);
    const failures = await t.rt.tracker.failures(runId);
    for (const f of failures) expect(f.error).toMatch(/insufficient_quota.*exceeded your current quota/);
    expect(emu.stats().requests.total).toBeLessThanOrEqual(docs.length); // at most one request per job
    const failed = await t.rt.queues.embed.getFailed();
    expect(
      failed.filter((j) => j.data.runId === runId).every((j) => /exceeded your current quota/.test(j.failedReason)),
    ).toBe(true);

    const status = await runCli(['status', '--json'], { ...t.iso.env, OPENAI_BASE_URL: emu.url, OPENAI_API_KEY: 'k' });
    expect(JSON.parse(status.stdout).queues.embed.failed).toBeGreaterThanOrEqual(docs.length);

    emu.configure({ insufficientQuota: false });
    const retried = await runCli(['retry-failed', 'embed'], {
      ...t.iso.env,
      OPENAI_BASE_URL: emu.url,
      OPENAI_API_KEY: 'k',
    });
    expect(retried.code, retried.stderr).toBe(0);
    expect(retried.stdout).toMatch(/embed: \d+ failed jobs re-enqueued/);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const { rows } = await t.rt.db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM embeddings WHERE chunk_hash = ANY($1)`,
        [docs.flatMap((d) => d.hashes)],
      );
      if (rows[0]!.n === 30) break;
      if (Date.now() > deadline) throw new Error(`only ${rows[0]!.n} of 30 embedded after retry-failed`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }, 120_000);
});
