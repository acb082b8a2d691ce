/**
 * The CPU limit per document against real services (docs/design.md, "CPU
 * limit per document"): a crawl worker process extracts and chunks in its
 * text pool, so a document that keeps a thread busy does not stop the same
 * process from completing its other jobs, and one over the limit fails with
 * its reason kept in the failed set. No timing is asserted: the other jobs
 * are shown to complete while the busy one is still active.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueueIngest, ingest } from '../../src/ingest/ingest.ts';
import { startWorkers, type RunningWorkers } from '../../src/runtime/workers.ts';
import { TextPool } from '../../src/textpool/pool.ts';
import { openTestRuntime, type TestRuntime } from '../helpers/runtime.ts';
import { SPIN_MARKER } from '../helpers/slow-text-worker.ts';
import { serveDirectory, type StaticServer } from '../helpers/static-server.ts';
import { until } from '../helpers/wait.ts';

const SLOW_WORKER = new URL('../helpers/slow-text-worker.ts', import.meta.url).href;
const WHITESPACE_BYTES = 4_000_000;

let t: TestRuntime;
let workers: RunningWorkers;
let site: StaticServer;
let siteDir: string;
const substitutes: TextPool[] = [];

beforeAll(async () => {
  siteDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-cpu-'));
  fs.writeFileSync(
    path.join(siteDir, 'whitespace.html'),
    `<html><head><title>Whitespace</title></head><body><h1>Whitespace</h1><pre>a${' '.repeat(WHITESPACE_BYTES)}x</pre></body></html>`,
  );
  site = await serveDirectory(siteDir);
  t = await openTestRuntime({ JOB_ATTEMPTS: '3', JOB_BACKOFF_MS: '100' }, { workers: false });
  workers = startWorkers(t.rt, ['crawl', 'embed']);
});

afterAll(async () => {
  // Force: a job whose thread spins forever never ends by itself; closing its pool ends the thread.
  await workers?.close(true);
  for (const p of substitutes) await p.close();
  const own = t?.rt.context.textPool;
  await t?.close();
  await site?.close();
  fs.rmSync(siteDir, { recursive: true, force: true });
  // No test leaves a thread behind.
  for (const p of [...substitutes, ...(own ? [own] : [])]) expect(p.threadCount).toBe(0);
});

/** Makes the crawl processor use a text pool whose threads spin on documents marked SPIN-FOREVER. */
function useSlowPool(cpuLimitMs: number): TextPool {
  const pool = new TextPool({ cpuLimitMs, maxThreads: 2, workerUrl: SLOW_WORKER });
  substitutes.push(pool);
  t.rt.context.textPool = pool;
  return pool;
}

const inline = (id: string, text: string) => ({ id, text });
const docId = (job: Job): string | undefined =>
  (job.data as { source?: { document?: { id?: string } } }).source?.document?.id;

describe('a page with 4 MB of white space inside <pre>', () => {
  it('is ingested (or fails with a named error), and the same process completes the other documents', async () => {
    const others = ['one', 'two', 'three'].map((id) => inline(`plain-${id}`, `An ordinary document called ${id}.`));
    const s = await ingest(t.rt, { collection: 'whitespace', sources: [`${site.url}/whitespace.html`, ...others] });
    for (const f of s.failed) expect(f.error).toMatch(/CPU limit of \d+ ms .*DOCUMENT_CPU_LIMIT_MS/);
    expect(s.failed.filter((f) => !f.source.endsWith('whitespace.html'))).toEqual([]);
    expect(s.documents).toBe(s.failed.length === 0 ? 4 : 3);
    const { rows } = await t.rt.db.pool.query<{ uri: string }>(
      `SELECT d.uri FROM documents d JOIN collections c ON c.id = d.collection_id WHERE c.name = 'whitespace'`,
    );
    expect(rows.map((r) => r.uri).filter((u) => u.startsWith('inline:'))).toEqual(
      expect.arrayContaining(['inline:plain-one', 'inline:plain-two', 'inline:plain-three']),
    );
  });
});

describe('a document over DOCUMENT_CPU_LIMIT_MS', () => {
  it('fails at once with DocumentCpuLimitError as its reason; the rest of the run completes', async () => {
    useSlowPool(2000);
    const s = await ingest(t.rt, {
      collection: 'limit',
      sources: [inline('pathological', `a page ${SPIN_MARKER}`), inline('fine', 'A fine document.')],
    });
    expect(s.documents).toBe(1);
    expect(s.failed).toHaveLength(1);
    expect(s.failed[0]!.source).toBe('inline:pathological');
    expect(s.failed[0]!.error).toMatch(
      /^inline:pathological: extracting and chunking the document took over its CPU limit of 2000 ms .*DOCUMENT_CPU_LIMIT_MS/,
    );
    // Permanent: one attempt although JOB_ATTEMPTS is 3, and the reason stays in the failed set.
    const failed = (await t.rt.queues.crawl.getFailed()).filter((j) => docId(j) === 'pathological');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.attemptsMade).toBe(1);
    expect(failed[0]!.failedReason).toContain('CPU limit of 2000 ms');
  });
});

describe('a document that keeps its thread busy', () => {
  it('does not stop the same worker process from completing its other jobs meanwhile', async () => {
    // A limit far beyond the test: the busy document is still being worked on when the others are done.
    useSlowPool(3_600_000);
    const others = Array.from({ length: 6 }, (_, i) => inline(`meanwhile-${i}`, `Document number ${i}.`));
    await enqueueIngest(t.rt, { collection: 'busy', sources: [inline('busy', `a page ${SPIN_MARKER}`), ...others] });
    const ids = new Set(others.map((o) => o.id));
    const completed = await until(async () => {
      const done = (await t.rt.queues.crawl.getCompleted()).filter((j) => ids.has(docId(j) ?? ''));
      return done.length === ids.size ? done : undefined;
    }, 'the other crawl jobs to complete');
    expect(completed.map(docId).sort()).toEqual([...ids].sort());
    const active = (await t.rt.queues.crawl.getActive()).map(docId);
    expect(active).toEqual(['busy']);
  });
});
