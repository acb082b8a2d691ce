/**
 * The metrics server over real HTTP, and the queue backlog gauge read from a
 * real BullMQ queue on the real Redis (REDIS_URL, default redis://127.0.0.1:6379).
 */
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  chunksTotal,
  documentsTotal,
  embeddingBatchTokens,
  embeddingRequestsTotal,
  initLabels,
  observeJob,
  registry,
  savedUsdTotal,
} from '../../src/metrics/metrics.ts';
import { registerQueueBacklog } from '../../src/metrics/backlog.ts';
import { startMetricsServer, type HealthReport, type MetricsServer } from '../../src/metrics/server.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

interface LogCall {
  level: 'info' | 'warn' | 'error';
  obj: object;
  msg: string | undefined;
}
const logs: LogCall[] = [];
const logger = {
  info: (obj: object, msg?: string) => logs.push({ level: 'info', obj, msg }),
  warn: (obj: object, msg?: string) => logs.push({ level: 'warn', obj, msg }),
  error: (obj: object, msg?: string) => logs.push({ level: 'error', obj, msg }),
};

let ready: () => Promise<HealthReport> = async () => ({ ok: true, checks: { redis: 'ok' } });
let server: MetricsServer;
let base: string;

beforeAll(async () => {
  server = await startMetricsServer({ port: 0, logger, ready: () => ready(), readyTimeoutMs: 300 });
  base = `http://127.0.0.1:${server.port}`;
});

afterAll(async () => {
  await server.close();
});

async function scrape(): Promise<string> {
  const res = await fetch(`${base}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

/** The value of one exact series line (`name{labels}`) in a scrape, or undefined. */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('startMetricsServer', () => {
  it('binds 127.0.0.1 by default and reports the port it got', () => {
    expect(server.port).toBeGreaterThan(0);
    expect(logs.some((l) => l.level === 'info' && (l.obj as { host?: string }).host === '127.0.0.1')).toBe(true);
  });

  it('serves the registry in the Prometheus text format', async () => {
    // Deltas, not absolute values: the registry is process-wide and another
    // test file may share this module when vitest does not isolate files.
    const queue = `q${randomBytes(4).toString('hex')}`;
    const model = 'text-embedding-3-small';
    const series = {
      written: 'sluice_documents_total{outcome="written"}',
      dedup: 'sluice_chunks_total{outcome="deduplicated"}',
      r429: `sluice_embedding_requests_total{model="${model}",status="429"}`,
      tok2500: `sluice_embedding_batch_tokens_bucket{le="2500",model="${model}"}`,
      tok1000: `sluice_embedding_batch_tokens_bucket{le="1000",model="${model}"}`,
      saved: 'sluice_saved_usd_total{kind="embedding_dedup"}',
    };
    initLabels({ models: [model] });
    const before = await scrape();
    const delta = (after: string, key: keyof typeof series) =>
      (value(after, series[key]) ?? NaN) - (value(before, series[key]) ?? 0);

    initLabels({ queues: [queue] });
    documentsTotal.inc({ outcome: 'written' }, 2);
    chunksTotal.inc({ outcome: 'deduplicated' }, 5);
    embeddingRequestsTotal.inc({ model, status: '429' });
    embeddingBatchTokens.observe({ model }, 1200);
    savedUsdTotal.inc({ kind: 'embedding_dedup' }, 0.25);
    observeJob(queue, 'completed', 0.042);

    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(registry.contentType);
    const text = await res.text();
    expect(text).toContain('# TYPE sluice_jobs_total counter');
    expect(delta(text, 'written')).toBe(2);
    expect(value(text, 'sluice_documents_total{outcome="unchanged"}')).toBeGreaterThanOrEqual(0); // pre-created
    expect(delta(text, 'dedup')).toBe(5);
    expect(delta(text, 'r429')).toBe(1);
    expect(delta(text, 'tok2500')).toBe(1);
    expect(delta(text, 'tok1000')).toBe(0);
    expect(delta(text, 'saved')).toBeCloseTo(0.25);
    expect(value(text, `sluice_jobs_total{queue="${queue}",outcome="completed"}`)).toBe(1);
    expect(value(text, `sluice_jobs_total{queue="${queue}",outcome="failed"}`)).toBe(0); // pre-created by initLabels
    expect(value(text, `sluice_job_duration_seconds_bucket{le="0.05",queue="${queue}",outcome="completed"}`)).toBe(1);
    expect(value(text, `sluice_job_duration_seconds_bucket{le="0.025",queue="${queue}",outcome="completed"}`)).toBe(0);
    // Node's default metrics are in the same registry.
    expect(text).toContain('process_cpu_user_seconds_total');
    expect(text).toContain('nodejs_eventloop_lag_seconds');
  });

  it('answers /readyz 200 with the checks when ready', async () => {
    ready = async () => ({ ok: true, checks: { redis: 'ok', postgres: 'ok' } });
    const res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({ ok: true, checks: { redis: 'ok', postgres: 'ok' } });
  });

  it('answers /readyz 503 when not ready, when the check throws and when it hangs', async () => {
    ready = async () => ({ ok: false, checks: { redis: 'ok', postgres: 'ECONNREFUSED' } });
    let res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ ok: false, checks: { redis: 'ok', postgres: 'ECONNREFUSED' } });

    ready = async () => {
      throw new Error('redis down');
    };
    res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ ok: false, checks: { ready: 'redis down' } });

    ready = () => new Promise(() => {});
    const t0 = Date.now();
    res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(503);
    expect(((await res.json()) as HealthReport).checks.ready).toMatch(/timed out after 300 ms/);
    expect(Date.now() - t0).toBeLessThan(5_000); // the 300 ms deadline, not a hang
  });

  it('answers /healthz (liveness) 200 even while not ready: a dependency outage must not restart workers', async () => {
    ready = async () => ({ ok: false, checks: { postgres: 'down for 40 s: ECONNREFUSED' } });
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    const res = await fetch(`${base}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ok: true, checks: { eventLoop: 'ok' } });
  });

  it('answers 404 on other paths and 405 on other methods', async () => {
    expect((await fetch(`${base}/`)).status).toBe(404);
    expect((await fetch(`${base}/metrics/extra`)).status).toBe(404);
    const post = await fetch(`${base}/metrics`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    // A query string does not change the route.
    ready = async () => ({ ok: true, checks: {} });
    expect((await fetch(`${base}/readyz?verbose=1`)).status).toBe(200);
  });

  it('rejects when the port is taken', async () => {
    await expect(startMetricsServer({ port: server.port, logger, ready })).rejects.toMatchObject({
      code: 'EADDRINUSE',
    });
  });

  it('close() does not wait for keep-alive sockets to time out', async () => {
    const other = await startMetricsServer({ port: 0, logger, ready });
    const agent = new http.Agent({ keepAlive: true });
    const status = await new Promise<number>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: other.port, path: '/metrics', agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        })
        .on('error', reject);
    });
    expect(status).toBe(200);
    // The agent now holds an idle keep-alive socket; node's default keep-alive
    // timeout is 5 s, and the forced close comes after 2 s.
    const t0 = Date.now();
    await other.close();
    expect(Date.now() - t0).toBeLessThan(4_000); // not node's 5 s keep-alive timeout
    await other.close(); // idempotent
    agent.destroy();
  });
});

describe('registerQueueBacklog', () => {
  it('reports a real BullMQ queue at scrape time', async () => {
    const { hostname, port } = new URL(REDIS_URL);
    const prefix = `sluice-test-${randomBytes(6).toString('hex')}`;
    const name = `embed-${randomBytes(4).toString('hex')}`;
    const queue = new Queue(name, { connection: { host: hostname, port: Number(port || 6379) }, prefix });
    const unregister = registerQueueBacklog([queue], { logger });
    try {
      await queue.add('embed', { n: 1 });
      await queue.add('embed', { n: 2 }, { delay: 60_000 });
      const q = (state: string) => `sluice_queue_jobs{queue="${name}",state="${state}"}`;
      let text = await scrape();
      expect(text).toContain(`${q('waiting')} 1\n`);
      expect(value(text, q('delayed'))).toBe(1);
      expect(value(text, q('active'))).toBe(0);
      expect(value(text, q('prioritized'))).toBe(0);
      expect(value(text, q('paused'))).toBe(0);
      expect(value(text, q('failed'))).toBe(0);
      expect(value(text, q('completed'))).toBe(0);

      // Fresh at every scrape, no timer in between.
      await queue.add('embed', { n: 3 });
      text = await scrape();
      expect(value(text, q('waiting'))).toBe(2);
      expect(value(text, `sluice_queue_backlog_errors_total{queue="${name}"}`)).toBe(0);
    } finally {
      unregister();
      await queue.obliterate({ force: true });
      await queue.close();
    }
    // Unregistered: its series are gone.
    expect(await scrape()).not.toContain(`sluice_queue_jobs{queue="${name}"`);
  });

  it('keeps the old values and still serves the scrape when reading counts fails or hangs', async () => {
    let mode: 'ok' | 'fail' | 'hang' = 'ok';
    const name = `crawl-${randomBytes(4).toString('hex')}`;
    const flaky = {
      name,
      getJobCounts: async (...types: string[]): Promise<Record<string, number>> => {
        if (mode === 'fail') throw new Error("READONLY You can't write against a read only replica");
        if (mode === 'hang') return new Promise(() => {});
        return Object.fromEntries(types.map((t) => [t, t === 'waiting' ? 7 : 0]));
      },
    };
    const before = logs.length;
    const unregister = registerQueueBacklog([flaky], { logger, timeoutMs: 100 });
    try {
      let text = await scrape();
      expect(value(text, `sluice_queue_jobs{queue="${name}",state="waiting"}`)).toBe(7);

      mode = 'fail';
      text = await scrape();
      expect(value(text, `sluice_queue_jobs{queue="${name}",state="waiting"}`)).toBe(7);
      expect(value(text, `sluice_queue_backlog_errors_total{queue="${name}"}`)).toBe(1);

      mode = 'hang';
      const t0 = Date.now();
      text = await scrape();
      expect(Date.now() - t0).toBeLessThan(5_000); // the 100 ms deadline, not a hang
      expect(value(text, `sluice_queue_jobs{queue="${name}",state="waiting"}`)).toBe(7);
      expect(value(text, `sluice_queue_backlog_errors_total{queue="${name}"}`)).toBe(2);

      const warnings = logs.slice(before).filter((l) => l.level === 'warn');
      expect(warnings).toHaveLength(2);
      expect(warnings[0]?.obj).toMatchObject({ queue: name });
      expect(String((warnings[1]?.obj as { err?: Error } | undefined)?.err?.message)).toMatch(/timed out after 100 ms/);
    } finally {
      unregister();
    }
  });
});
