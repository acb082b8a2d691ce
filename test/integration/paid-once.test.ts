/**
 * Deadlines and paid-once, against services of the test's own: a
 * redis-server with AOF on its own port, a TCP proxy of its own in front of
 * PostgreSQL + pgvector, and the emulator over HTTP.
 * - Redis stops right after a paid embeddings response: the emulator saw one
 *   request for those inputs, and the ledger holds its row, billed.
 * - A blackholed Postgres connection (the proxy forwards nothing, closes
 *   nothing): the job fails by its deadline, naming what it waited for, and
 *   readiness is red meanwhile.
 * - An embeddings request answered 500 (unbilled) while PostgreSQL refuses
 *   connections: its ledger row is voided once PostgreSQL answers, not left
 *   'sent' to count tokens nobody billed.
 * - The intent's INSERT commits after its connection was cut (the attempt
 *   heard an error and never sent its request): its row ends voided.
 * After each, the ledger's tokens equal the tokens the emulator billed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '@sluice/openai-emulator';
import { waitForRun } from '../../src/ingest/ingest.ts';
import { newRunId } from '../../src/runs/tracker.ts';
import { startOwnRedis, type OwnRedis } from '../helpers/redis-server.ts';
import { openTestRuntime, type TestRuntime } from '../helpers/runtime.ts';
import { seedDocuments } from '../helpers/seed.ts';
import { startDatabaseProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { until } from '../helpers/wait.ts';

let redisSrv: OwnRedis;
let proxy: TcpProxy;
let emu: RunningEmulator;
let t: TestRuntime;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Ledger rows by status, and the emulator's billed tokens. */
async function ledger(): Promise<{ billed: number; sent: number; failed: number; rows: number }> {
  const { rows } = await t.rt.db.pool.query<{ status: string; tokens: number; n: number }>(
    `SELECT status, coalesce(sum(tokens), 0)::int AS tokens, count(*)::int AS n FROM cost_ledger GROUP BY status`,
  );
  const by = Object.fromEntries(rows.map((r) => [r.status, r]));
  return {
    billed: by.billed?.tokens ?? 0,
    sent: by.sent?.tokens ?? 0,
    failed: by.failed?.n ?? 0,
    rows: rows.reduce((s, r) => s + r.n, 0),
  };
}

async function enqueueEmbeds(collection: string, docs: Awaited<ReturnType<typeof seedDocuments>>): Promise<string> {
  const runId = newRunId();
  const { model, dimensions } = t.rt.config.embedding;
  await t.rt.tracker.start(runId, { collection });
  await t.rt.producer.add(
    'embed',
    docs.map((d, i) => ({
      jobId: `embed-${runId}-${i}`,
      payload: { runId, collection, source: d.uri, model, dimensions, chunkHashes: d.hashes },
    })),
    runId,
  );
  return runId;
}

beforeAll(async () => {
  redisSrv = await startOwnRedis();
  let databaseUrl: string;
  ({ proxy, databaseUrl } = await startDatabaseProxy());
  emu = await startEmulator({ rpm: 100_000, tpm: 100_000_000, seed: 11 });
  t = await openTestRuntime({
    REDIS_URL: redisSrv.url,
    DATABASE_URL: databaseUrl,
    OPENAI_BASE_URL: emu.url,
    OPENAI_API_KEY: 'test-key',
    EMBEDDING_RPM: '100000',
    EMBEDDING_TPM: '100000000',
    DEPENDENCY_PROBE_MS: '300',
    JOB_ATTEMPTS: '1',
    JOB_DEADLINES: 'embed=20s',
    DATABASE_STATEMENT_TIMEOUT_MS: '0',
  });
}, 60_000);

afterAll(async () => {
  proxy?.forward();
  await t?.close();
  await redisSrv?.close();
  await proxy?.close();
  await emu?.close();
});

describe('paid once', () => {
  it('Redis stops right after a paid response: one request for those inputs, and its ledger row', async () => {
    const docs = await seedDocuments(t.rt.db.pool, 'paid', 1, 6);
    emu.reset();
    // The response takes 1.5 s: Redis stops while it is on its way.
    emu.configure({ latencyMs: 1500 });
    const runId = await enqueueEmbeds('paid', docs);
    await until(async () => (emu.stats().requests.total >= 1 ? true : undefined), 'the request to arrive', 20_000);
    await redisSrv.stop();
    // The response arrives while Redis is down, for long enough that a Redis
    // command after it fails rather than waits in ioredis's offline queue.
    await sleep(8000);
    await redisSrv.start();
    const progress = await waitForRun(t.rt, runId, { pollMs: 100 });
    emu.configure({ latencyMs: 0 });

    expect(progress.failed).toBe(0);
    const stats = emu.stats();
    expect(stats.requests.total).toBe(1);
    expect(stats.inputsAccepted).toBe(docs[0]!.hashes.length);
    const l = await ledger();
    expect(l).toMatchObject({ billed: stats.tokensAccepted, sent: 0 });
    console.log(
      `paid once: ${stats.requests.total} request, ${stats.inputsAccepted} inputs, ${stats.tokensAccepted} tokens billed; ledger ${JSON.stringify(l)}`,
    );
  }, 120_000);
});

describe('unbilled', () => {
  it('a 500 answered while PostgreSQL refuses: the intent is voided once it answers, not left sent', async () => {
    const docs = await seedDocuments(t.rt.db.pool, 'unbilled', 1, 5, 140); // texts no other test embeds
    emu.reset();
    const before = await ledger();
    // Every embeddings request fails (500/503, unbilled) after 2 s; PostgreSQL refuses meanwhile.
    emu.configure({ latencyMs: 2000, errorRate: 1, faultRoutes: ['/v1/embeddings'] });
    const runId = await enqueueEmbeds('unbilled', docs);
    await until(async () => (emu.stats().requests.total >= 1 ? true : undefined), 'the request to arrive', 20_000);
    await proxy.refuse();
    await sleep(4000); // the 500 arrives while PostgreSQL refuses
    await proxy.accept();
    const failure = await until(
      async () => (await t.rt.tracker.failures(runId).catch(() => []))[0],
      'the job to fail with the server error',
      60_000,
    );
    emu.configure({ latencyMs: 0, errorRate: 0, faultRoutes: null });
    expect(failure.error).toMatch(/500|503|server/i);
    const stats = emu.stats();
    expect(stats.tokensAccepted).toBe(0);
    const after = await ledger();
    console.log(
      `unbilled: ${stats.requests.total} requests answered 5xx, ${stats.tokensAccepted} tokens billed; ledger sent ${after.sent - before.sent}, failed rows ${after.failed - before.failed}`,
    );
    expect(after.sent - before.sent).toBe(0);
    expect(after.billed - before.billed).toBe(0);
    expect(after.failed - before.failed).toBeGreaterThanOrEqual(1);
  }, 120_000);
});

describe('unbilled, then waiting for the budget', () => {
  it("a 500'd attempt's ledger row is void while its retry waits for the budget (a kill then leaves nothing 'sent')", async () => {
    // A runtime of its own whose budget fits one request a minute: the 500'd
    // attempt keeps its reservation (it may have been counted), so the retry
    // waits for the window to roll, the minutes a SIGKILL could land in.
    const slow = await openTestRuntime({
      REDIS_URL: redisSrv.url,
      DATABASE_URL: t.iso.env.DATABASE_URL!,
      OPENAI_BASE_URL: emu.url,
      OPENAI_API_KEY: 'test-key',
      EMBEDDING_RPM: '100000',
      EMBEDDING_TPM: '1000',
      JOB_ATTEMPTS: '1',
      JOB_DEADLINES: 'embed=120s',
    });
    try {
      const docs = await seedDocuments(slow.rt.db.pool, 'unbilled-wait', 1, 4, 150); // 600 tokens, texts no other test embeds
      emu.reset();
      emu.configure({ errorRate: 1, faultRoutes: ['/v1/embeddings'] });
      const runId = newRunId();
      const { model, dimensions } = slow.rt.config.embedding;
      await slow.rt.tracker.start(runId, { collection: 'unbilled-wait' });
      await slow.rt.producer.add(
        'embed',
        [
          {
            jobId: `embed-${runId}-0`,
            payload: {
              runId,
              collection: 'unbilled-wait',
              source: docs[0]!.uri,
              model,
              dimensions,
              chunkHashes: docs[0]!.hashes,
            },
          },
        ],
        runId,
      );
      await until(async () => (emu.stats().requests.total >= 1 ? true : undefined), 'the first attempt', 20_000);
      emu.configure({ errorRate: 0, faultRoutes: null });
      const rows = async () =>
        (
          await slow.rt.db.pool.query<{ status: string }>(
            `SELECT status FROM cost_ledger WHERE run_id = $1 ORDER BY id`,
            [runId],
          )
        ).rows.map((r) => r.status);
      // The retry is now waiting for the budget; the first attempt's row is void within moments.
      const voided = await until(
        async () => ((await rows()).includes('failed') ? await rows() : undefined),
        "the 500'd attempt's row voided",
        10_000,
      );
      await sleep(2000);
      const waiting = await rows();
      console.log(
        `unbilled then waiting: ${emu.stats().requests.total} request(s) sent, ${emu.stats().tokensAccepted} tokens billed; ledger rows while the retry waits ${JSON.stringify(waiting)}`,
      );
      expect(voided).toEqual(['failed']);
      expect(waiting).toEqual(['failed']);
      expect(emu.stats().requests.total).toBe(1);
      // The window rolls, the retry is sent and billed: one billed row beside the void one.
      const progress = await waitForRun(slow.rt, runId, { pollMs: 200 });
      expect(progress.failed).toBe(0);
      expect(await rows()).toEqual(['failed', 'billed']);
      expect(emu.stats().requests.total).toBe(2);
    } finally {
      await slow.close();
    }
  }, 120_000);
});

describe('an intent write that fails without a reply', () => {
  it("a ledger row whose INSERT committed after its connection was cut is voided, not left 'sent'", async () => {
    // The intent's INSERT sleeps on the server (a trigger of this test's);
    // the proxy cuts its connection meanwhile, so the attempt hears an error
    // and never sends its request, while the backend goes on and commits the
    // row seconds later, after the void may already have run. The row must
    // end voided all the same: the job held its id before the write
    // (allocated first), and the void is an upsert the late INSERT cannot
    // undo. The retry writes a row of its own, billed.
    const docs = await seedDocuments(t.rt.db.pool, 'ambiguous', 1, 3, 160); // texts no other test embeds
    emu.reset();
    await t.rt.db.pool.query(`
      CREATE FUNCTION intent_insert_sleeps() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_sleep(5); RETURN NULL; END $$;
      CREATE TRIGGER intent_insert_sleeps AFTER INSERT ON cost_ledger
        FOR EACH ROW WHEN (NEW.status = 'sent') EXECUTE FUNCTION intent_insert_sleeps();`);
    try {
      const runId = await enqueueEmbeds('ambiguous', docs);
      await until(
        async () => {
          const { rows } = await t.rt.db.pool.query(
            `SELECT 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND query LIKE '%INSERT INTO cost_ledger%'`,
          );
          return rows.length ? true : undefined;
        },
        "the intent's INSERT to be sleeping in its trigger",
        20_000,
      );
      await proxy.refuse();
      await sleep(1000);
      await proxy.accept();
      // The job sees an outage, not a failure of its own: it is retried and its request billed once.
      const progress = await waitForRun(t.rt, runId, { pollMs: 100 });
      const statuses = async () =>
        (
          await t.rt.db.pool.query<{ status: string; tokens: number }>(
            `SELECT status, tokens::int AS tokens FROM cost_ledger WHERE run_id = $1 ORDER BY id`,
            [runId],
          )
        ).rows;
      const rows = await until(
        async () => {
          const idle = await t.rt.db.pool.query(`SELECT 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep'`);
          return idle.rows.length ? undefined : await statuses();
        },
        'the sleeping INSERT to finish',
        20_000,
      );
      const stats = emu.stats();
      console.log(
        `intent write cut: ${progress.failed} failed jobs; ${stats.requests.total} request(s) sent, ${stats.tokensAccepted} tokens billed; ledger rows ${JSON.stringify(rows)}`,
      );
      expect(progress.failed).toBe(0);
      // The cut attempt's row is void; the retry's row holds exactly what the emulator billed.
      expect(rows[0]).toEqual({ status: 'failed', tokens: 0 });
      expect(rows.filter((r) => r.status === 'sent')).toEqual([]);
      expect(rows.filter((r) => r.status === 'billed').reduce((n, r) => n + r.tokens, 0)).toBe(stats.tokensAccepted);
      expect(stats.requests.total).toBe(1);
    } finally {
      await t.rt.db.pool.query(
        `DROP TRIGGER IF EXISTS intent_insert_sleeps ON cost_ledger; DROP FUNCTION IF EXISTS intent_insert_sleeps()`,
      );
    }
  }, 120_000);
});

describe('deadlines', () => {
  it('a blackholed Postgres connection: the job fails by its deadline naming the wait; not ready meanwhile', async () => {
    const docs = await seedDocuments(t.rt.db.pool, 'blackhole', 1, 4, 70); // texts the first test did not embed
    emu.reset();
    const before = await ledger();
    // The response takes 2 s; Postgres goes silent while it is on its way, so
    // the job waits on Postgres (its vectors and ledger row) past its 20 s deadline.
    emu.configure({ latencyMs: 2000 });
    const runId = await enqueueEmbeds('blackhole', docs);
    await until(
      async () => (emu.stats().requests.total >= 1 ? true : undefined),
      'the request to arrive',
      20_000,
    ).catch(async (err: unknown) => {
      throw new Error(
        `${String(err)}; readiness ${JSON.stringify(t.workers.readiness())}; counts ${JSON.stringify(await t.rt.queues.embed.getJobCounts())}`,
      );
    });
    proxy.blackhole();
    const notReady = await until(
      async () => {
        const r = t.workers.readiness();
        return r.checks.postgres !== 'ok' ? r : undefined;
      },
      'readiness red for postgres',
      20_000,
    );
    expect(notReady.ok).toBe(false);
    const failure = await until(
      async () => (await t.rt.tracker.failures(runId))[0],
      'the job to fail by its deadline',
      60_000,
    );
    proxy.forward();
    emu.configure({ latencyMs: 0 });
    console.log(`blackhole: ${failure.error}`);
    expect(failure.error).toMatch(/embed job deadline of 20 s passed while waiting for /);
    expect(failure.error).toMatch(/postgres/);
    await until(
      async () => (t.workers.readiness().checks.postgres === 'ok' ? true : undefined),
      'postgres back',
      30_000,
    );
    // The request was sent and billed: its intent row says so, with the tokens counted locally.
    const stats = emu.stats();
    expect(stats.requests.total).toBe(1);
    const after = await ledger();
    expect(after.rows - before.rows).toBe(1);
    expect(after.sent - before.sent).toBe(stats.tokensAccepted);
  }, 120_000);
});
