/**
 * `npm run bench:embed` — how close Sluice's embed workers run to OpenAI's
 * rate limit, against LangChain's `OpenAIEmbeddings` on the same work.
 * A script that prints figures, not a test: nothing here asserts.
 *
 * What it does, in one run:
 * 1. Starts one OpenAI emulator in its own process (`sluice emulator`) with
 *    tier-1 limits (3,000 RPM / 1,000,000 TPM on a real 60 s rolling window)
 *    and realistic latency (300 ms + 0.01 ms per token), and steers it through
 *    its admin endpoints (`/_emulator/config|reset|stats`).
 * 2. Crawls PostgreSQL's HTML manual once with the real crawler into a bench
 *    schema (~6,700 chunks, ~1.5M tokens), then adds K−1 copies of every
 *    document whose chunks end in `(copy k)`: distinct texts, so a run lasts
 *    several windows (default K=3: ~4.6M tokens, ~4.6 min at 1M TPM) and
 *    "after the first minute" means something.
 * 3. For 1, 2 and 4 worker processes: empties the embeddings, resets the
 *    emulator, enqueues one embed job per document (as the crawl processor
 *    does, in one run), starts N `sluice worker embed` processes sharing one
 *    Redis budget, waits for the run, stops them (SIGTERM).
 * 4. Embeds the same distinct chunk texts with LangChain at its defaults
 *    (in a child process, see langchain-child.ts), against the same settings.
 *
 * How it measures: the emulator counts a request's tokens when it admits it;
 * the bench polls `GET /_emulator/stats` every `--poll-ms` and builds a time
 * series of `tokensAccepted` (see goodput.ts). Goodput counts the job's own
 * tokens (the distinct chunk texts, cl100k): LangChain's stripNewLines sends
 * ~1% more tokens for the same chunks, which spend TPM but embed no chunk
 * more, so its series is scaled by job tokens ÷ tokens sent (Sluice sends
 * exactly the job's tokens). 429s and the peak window stay in tokens sent.
 * Figures, all ÷ the TPM limit (tokens per window ÷ tokens allowed per window):
 * - whole run: job tokens ÷ wall time (Sluice: from spawning the
 *   workers to the run finished; LangChain: the `embedDocuments` call);
 * - after the 1st minute: tokens per minute achieved once the first window
 *   (which starts empty and so allows a burst) is over: the mean over the
 *   complete windows after the first (goodput.ts `fullWindows`). The run's
 *   last window is partial (the work runs out a few seconds into it) and is
 *   left out: a client held at the limit repeats its first window's pattern
 *   (burst, then wait) in every window, so a rate over a few seconds of
 *   burst says where the work ran out, not how fast it went;
 * - incl. tail: the same from (first request + window) to the last request
 *   admitted, the partial last window included. Shown for completeness; it
 *   exceeds 1 (no client sustains more than the limit) and it credits a
 *   client for tokens it failed to send in its first minute, which end up in
 *   its final burst (test/unit/bench-goodput.test.ts shows both);
 * - peak window: the most tokens the emulator admitted in any rolling window
 *   (≤ 1 by construction: more would have been a 429).
 * Plus requests, 429s and their share of requests.
 *
 * Flags (or BENCH_* variables; defaults are the real thing):
 *   --k 3  --rpm 3000  --tpm 1000000  --window-ms 60000  --latency-ms 300
 *   --latency-per-token-ms 0.01  --processes 1,2,4  --embed-concurrency <n>
 *   (default: Sluice's EMBED_CONCURRENCY default)  --docs-per-job 1 (merge the
 *   chunks of several documents into one embed job: bigger requests)
 *   --coalesce-ms <n> (default: Sluice's EMBEDDING_COALESCE_MS; 0 = off)
 *   --no-langchain  --poll-ms 500  --max-minutes 30 (per configuration)
 * BENCH_TRACE=/tmp/run writes each configuration's poll series to
 * /tmp/run-<config>.json (epoch ms, cumulative tokens, requests, 429s).
 * Quick smoke run: `npm run bench:embed -- --k 1 --window-ms 20000 --tpm 300000`.
 *
 * Needs Redis on 127.0.0.1:6379, PostgreSQL with pgvector
 * (TEST_REDIS_URL / TEST_DATABASE_URL override them, as for the tests) and
 * the manual (`apt-get install -y postgresql-doc-15`). Everything it creates
 * (schema `bench_*`, Redis keys `sluice-bench-*`, processes, a temp dir) is
 * removed at the end, on errors and on Ctrl-C.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { countTokens, CURRENT_CHUNKER_VERSION } from '../../src/chunk/index.ts';
import { loadConfig } from '../../src/config/config.ts';
import { PG_MANUAL_DIR, requireManual, serveDirectory } from '../../src/demo/static-server.ts';
import type { EmulatorStats } from '@sluice/openai-emulator';
import { chunkHash, sha256Hex } from '../../src/hash/index.ts';
import { enqueueIngest, waitForRun } from '../../src/ingest/ingest.ts';
import { createLogger } from '../../src/log/logger.ts';
import { idHash } from '../../src/queue/job-ids.ts';
import { newRunId } from '../../src/runs/tracker.ts';
import { openRuntime } from '../../src/runtime/runtime.ts';
import { startWorkers } from '../../src/runtime/workers.ts';
import { ensureCollection, writeDocument, type ChunkRow } from '../../src/store/documents.ts';
import { missingForDocument } from '../../src/store/embeddings.ts';
import { REPO_ROOT, spawnCli } from '../helpers/cli.ts';
import { requirePostgres, requireRedis, TEST_DATABASE_URL, TEST_REDIS_URL } from '../helpers/services.ts';
import type { LangChainResult } from './langchain-child.ts';
import { paceFigures, type PaceFigures, type Sample } from './goodput.ts';

const COLLECTION = 'pgdocs';
const MODEL = 'text-embedding-3-small';
const LANGCHAIN_CHILD = path.join(import.meta.dirname, 'langchain-child.ts');

// ---------------------------------------------------------------- options

interface BenchOptions {
  /** Copies of the manual's chunks (1 = the manual once). */
  k: number;
  rpm: number;
  tpm: number;
  windowMs: number;
  latencyMs: number;
  latencyPerTokenMs: number;
  /** Worker process counts to run, in order. */
  processes: number[];
  /** EMBED_CONCURRENCY for the workers; undefined = Sluice's default. */
  embedConcurrency: number | undefined;
  /**
   * Documents per embed job (1 = what the crawl processor enqueues). More
   * puts more chunks in each request: for studying request sizes.
   */
  docsPerJob: number;
  /** EMBEDDING_COALESCE_MS for the workers; undefined = Sluice's default. */
  coalesceMs: number | undefined;
  langchain: boolean;
  pollMs: number;
  maxMinutes: number;
}

/** flag → [env variable, default]. */
const FLAGS = {
  k: ['BENCH_K', '3'],
  rpm: ['BENCH_RPM', '3000'],
  tpm: ['BENCH_TPM', '1000000'],
  'window-ms': ['BENCH_WINDOW_MS', '60000'],
  'latency-ms': ['BENCH_LATENCY_MS', '300'],
  'latency-per-token-ms': ['BENCH_LATENCY_PER_TOKEN_MS', '0.01'],
  processes: ['BENCH_PROCESSES', '1,2,4'],
  'embed-concurrency': ['BENCH_EMBED_CONCURRENCY', ''],
  'docs-per-job': ['BENCH_DOCS_PER_JOB', '1'],
  'coalesce-ms': ['BENCH_COALESCE_MS', ''],
  'poll-ms': ['BENCH_POLL_MS', '500'],
  'max-minutes': ['BENCH_MAX_MINUTES', '30'],
} as const;

function parseOptions(argv: string[], env: NodeJS.ProcessEnv): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...(Object.fromEntries(Object.keys(FLAGS).map((f) => [f, { type: 'string' }])) as Record<
        keyof typeof FLAGS,
        { type: 'string' }
      >),
      'no-langchain': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(
      `usage: npm run bench:embed -- [${Object.entries(FLAGS)
        .map(([f, [, d]]) => `--${f} ${d || '<n>'}`)
        .join('] [')}] [--no-langchain]\n`,
    );
    process.exit(0);
  }
  const raw = (flag: keyof typeof FLAGS): string => {
    const [name, def] = FLAGS[flag];
    return (values[flag] as string | undefined) ?? env[name] ?? def;
  };
  const num = (flag: keyof typeof FLAGS, { int = true, min = 1 } = {}): number => {
    const v = Number(raw(flag));
    if (!Number.isFinite(v) || (int && !Number.isInteger(v)) || v < min) {
      throw new Error(
        `--${flag} (${FLAGS[flag][0]}) must be ${int ? 'an integer' : 'a number'} ≥ ${min}, got ${JSON.stringify(raw(flag))}`,
      );
    }
    return v;
  };
  const processes = raw('processes')
    .split(',')
    .map((s) => Number(s.trim()));
  if (!processes.length || processes.some((n) => !Number.isInteger(n) || n < 1))
    throw new Error(`--processes must list integers ≥ 1, e.g. 1,2,4`);
  const concurrency = raw('embed-concurrency');
  return {
    k: num('k'),
    rpm: num('rpm'),
    tpm: num('tpm'),
    windowMs: num('window-ms'),
    latencyMs: num('latency-ms', { int: false, min: 0 }),
    latencyPerTokenMs: num('latency-per-token-ms', { int: false, min: 0 }),
    processes,
    embedConcurrency: concurrency === '' ? undefined : num('embed-concurrency'),
    docsPerJob: num('docs-per-job'),
    coalesceMs: raw('coalesce-ms') === '' ? undefined : num('coalesce-ms', { min: 0 }),
    langchain: !(values['no-langchain'] || ['0', 'false', 'no'].includes(env.BENCH_LANGCHAIN ?? '')),
    pollMs: num('poll-ms', { min: 50 }),
    maxMinutes: num('max-minutes', { int: false, min: 0.1 }),
  };
}

// ---------------------------------------------------------------- plumbing

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const note = (msg: string) => process.stderr.write(`bench: ${msg}\n`);

/** Run in reverse order at the end, on errors and on Ctrl-C. */
const cleanups: Array<() => Promise<unknown>> = [];
const children = new Set<ChildProcess>();
let cleaning: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    // Children first: workers must not write into a schema being dropped.
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    while (cleanups.length) {
      const fn = cleanups.pop()!;
      await fn().catch((err: unknown) => note(`cleanup: ${(err as Error).message}`));
    }
  })();
  return cleaning;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    note(`${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

function waitExit(c: ChildProcess, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve(c.exitCode);
    const timer = setTimeout(() => {
      c.kill('SIGKILL');
    }, timeoutMs);
    c.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/**
 * Keeps the last lines a child wrote, counts lines matching `count`, and
 * tallies its JSON log lines (pino) by level and message.
 */
function tail(stream: NodeJS.ReadableStream, count?: RegExp) {
  const lines: string[] = [];
  const messages = new Map<string, number>();
  let partial = '';
  const state = { lines, matched: 0, messages };
  stream.on('data', (d: Buffer) => {
    const parts = (partial + d.toString()).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      if (count?.test(line)) state.matched++;
      try {
        const { level, msg } = JSON.parse(line) as { level?: string; msg?: string };
        if (level && msg) messages.set(`${level}: ${msg}`, (messages.get(`${level}: ${msg}`) ?? 0) + 1);
      } catch {
        // not a log line
      }
      lines.push(line);
      if (lines.length > 30) lines.shift();
    }
  });
  return state;
}

async function deleteKeys(pattern: string): Promise<void> {
  const r = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await r.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}

// ---------------------------------------------------------------- emulator

/** The emulator process and its admin endpoints (on the URL without `/v1`). */
class Emulator {
  readonly apiUrl: string;
  readonly adminUrl: string;
  constructor(apiUrl: string) {
    this.apiUrl = apiUrl;
    this.adminUrl = apiUrl.replace(/\/v1\/?$/, '');
  }

  static async start(): Promise<Emulator> {
    const child = spawnCli(['emulator', '--port', '0'], { LOG_LEVEL: 'warn' });
    children.add(child);
    Emulator.prioritise(child);
    cleanups.push(async () => {
      child.kill('SIGTERM');
      await waitExit(child, 6000);
    });
    const err = tail(child.stderr!);
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error('the emulator did not print its URL within 30 s')), 30_000);
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const nl = out.indexOf('\n');
        if (nl >= 0) {
          clearTimeout(timer);
          resolve(out.slice(0, nl).trim());
        }
      });
      child.once('exit', (code) =>
        reject(new Error(`the emulator exited (${code}) before listening: ${err.lines.join('\n')}`)),
      );
    });
    return new Emulator(url);
  }

  /** Niceness the emulator runs at when the bench may raise priorities (root). */
  static readonly PRIORITY = -10;
  /** Whether the emulator got `PRIORITY`: printed with the figures. */
  static prioritised = false;

  /**
   * The emulator stands in for OpenAI, which runs on its own hardware. On a
   * 2-core machine it shares the CPU with the system under test (worker
   * processes, Postgres building HNSW entries), and a starved emulator admits
   * requests late: it would charge the client's local work to the API's
   * pace. Raising its priority keeps the stand-in's pace independent of the
   * client's load, for Sluice and LangChain alike. Needs root (CAP_SYS_NICE);
   * without it the bench says so and runs at normal priority.
   */
  static prioritise(child: ChildProcess): void {
    try {
      os.setPriority(child.pid!, Emulator.PRIORITY);
      Emulator.prioritised = true;
    } catch (err) {
      note(
        `could not raise the emulator's priority (${(err as Error).message}): it shares the CPU with the workers at equal priority`,
      );
    }
  }

  private async call<T>(method: 'GET' | 'POST', route: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.adminUrl}${route}`, {
      method,
      ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${text.slice(0, 500)}`);
    return JSON.parse(text) as T;
  }

  stats(): Promise<EmulatorStats> {
    return this.call('GET', '/_emulator/stats');
  }

  configure(patch: Record<string, unknown>): Promise<Record<string, unknown>> {
    return this.call('POST', '/_emulator/config', patch);
  }

  reset(): Promise<EmulatorStats> {
    return this.call('POST', '/_emulator/reset');
  }
}

/** Polls the emulator's counters into a time series until stopped. */
function pollStats(emu: Emulator, pollMs: number, onSample?: (s: Sample) => void) {
  const samples: Sample[] = [];
  let stopped = false;
  const take = async () => {
    const sent = Date.now();
    const s = await emu.stats();
    const responses = Object.values(s.requests.byStatus).reduce((a, b) => a + b, 0);
    const sample = {
      t: (sent + Date.now()) / 2,
      tokens: s.tokensAccepted,
      requests: s.requests.total,
      rateLimited: s.requests.byStatus['429'] ?? 0,
      responses,
    };
    samples.push(sample);
    onSample?.(sample);
    return sent;
  };
  // Never rejects: an emulator gone (Ctrl-C, crash) must not become an
  // unhandled rejection that kills the bench before it cleans up.
  let failure: unknown;
  const loop = (async () => {
    while (!stopped) {
      try {
        const sent = await take();
        await sleep(Math.max(0, pollMs - (Date.now() - sent)));
      } catch (err) {
        failure = err;
        return;
      }
    }
  })();
  return {
    samples,
    /**
     * Stops polling after one last sample (so the series ends at the final counts).
     * @throws the error that stopped polling early, if any
     */
    async stop(): Promise<Sample[]> {
      stopped = true;
      await loop;
      if (failure) throw failure;
      await take();
      return samples;
    },
  };
}

/** Progress to stderr every 15 s, so a 5-minute configuration is not silent. */
function progressPrinter(label: string, totalTokens: number, started: number) {
  let lastPrint = Date.now();
  return (s: Sample) => {
    if (Date.now() - lastPrint < 15_000) return;
    lastPrint = Date.now();
    note(
      `${label}: ${(s.tokens / 1e6).toFixed(2)}M of ${(totalTokens / 1e6).toFixed(2)}M tokens, ${s.requests} requests, ${s.rateLimited} 429s, ${((Date.now() - started) / 1000).toFixed(0)} s`,
    );
  };
}

// ---------------------------------------------------------------- data

interface Workload {
  /** One embed job per document: its URI and distinct chunk hashes. */
  jobs: Array<{ uri: string; hashes: string[] }>;
  /** Distinct chunk texts (what gets embedded), and their tokens. */
  chunks: number;
  tokens: number;
  /** The same for the manual alone (one copy). */
  manualChunks: number;
  manualTokens: number;
  manualPages: number;
}

/** Crawls the manual with the real crawler (crawl workers only) into the bench schema. */
async function crawlManual(env: Record<string, string>, prefix: string): Promise<void> {
  requireManual();
  const rt = await openRuntime(loadConfig({ ...env, QUEUE_PREFIX: prefix }), createLogger('error'), {
    role: 'bench-crawl',
  });
  const site = await serveDirectory(PG_MANUAL_DIR);
  const workers = startWorkers(rt, ['crawl']);
  try {
    const started = Date.now();
    await enqueueIngest(rt, { collection: COLLECTION, sources: [`${site.url}/index.html`] });
    // Done when no crawl job is left: a job fans out to its links before it
    // completes, so the queue cannot look empty halfway. Its embed jobs just
    // wait in their queue (no embed worker here) and are thrown away below.
    let lastNote = Date.now();
    for (;;) {
      const counts = await rt.queues.crawl.getJobCounts();
      const pending = Object.entries(counts)
        .filter(([k]) => k !== 'completed' && k !== 'failed')
        .reduce((s, [, v]) => s + v, 0);
      if (pending === 0) {
        // Completed jobs are trimmed (KEEP_COMPLETED_COUNT): count documents instead.
        const { rows } = await rt.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM documents`);
        const failed = counts.failed ?? 0;
        note(
          `crawled ${rows[0]!.n} pages in ${((Date.now() - started) / 1000).toFixed(0)} s${failed ? `, ${failed} crawl jobs failed` : ''}`,
        );
        break;
      }
      if (Date.now() - lastNote > 15_000) {
        lastNote = Date.now();
        note(`crawling: ${pending} crawl jobs pending`);
      }
      await sleep(500);
    }
    await rt.queues.embed.obliterate({ force: true });
  } finally {
    await workers.close();
    await site.close();
    await rt.close();
    await deleteKeys(`${prefix}:*`);
  }
}

/** Distinct chunk hashes of the collection and their tokens. */
async function distinctTotals(pool: pg.Pool): Promise<{ chunks: number; tokens: number }> {
  const { rows } = await pool.query<{ n: number; t: string | null }>(
    `SELECT count(*)::int AS n, sum(token_count)::bigint AS t FROM (SELECT DISTINCT ON (chunk_hash) chunk_hash, token_count FROM chunks ORDER BY chunk_hash) x`,
  );
  return { chunks: rows[0]!.n, tokens: Number(rows[0]!.t ?? 0) };
}

/**
 * Adds copies 1…k−1 of every document: same chunks with `\n\n(copy c)`
 * appended, so every text is distinct (no dedup), with exact token counts
 * and recomputed chunk hashes.
 */
async function addCopies(pool: pg.Pool, k: number): Promise<void> {
  if (k <= 1) return;
  const collectionId = await ensureCollection(pool, COLLECTION);
  const { rows: docs } = await pool.query<{
    id: string;
    uri: string;
    kind: 'html' | 'markdown' | 'text';
    title: string;
    bytes: string;
  }>(`SELECT id, uri, kind, title, bytes FROM documents WHERE collection_id = $1 ORDER BY id`, [collectionId]);
  const { rows: chunks } = await pool.query<{
    document_id: string;
    ordinal: number;
    url: string;
    heading_path: string[];
    text: string;
  }>(
    `SELECT c.document_id, c.ordinal, c.url, c.heading_path, c.text FROM chunks c JOIN documents d ON d.id = c.document_id
     WHERE d.collection_id = $1 ORDER BY c.document_id, c.ordinal`,
    [collectionId],
  );
  const byDoc = new Map<string, typeof chunks>();
  for (const c of chunks) {
    const list = byDoc.get(c.document_id);
    if (list) list.push(c);
    else byDoc.set(c.document_id, [c]);
  }
  const tasks: Array<() => Promise<unknown>> = [];
  for (let copy = 1; copy < k; copy++) {
    for (const doc of docs) {
      tasks.push(() => {
        const rows: ChunkRow[] = (byDoc.get(doc.id) ?? []).map((c) => {
          const text = `${c.text}\n\n(copy ${copy})`;
          return {
            ordinal: c.ordinal,
            chunkHash: chunkHash(text),
            url: c.url,
            headingPath: c.heading_path,
            text,
            tokenCount: countTokens(text),
          };
        });
        return writeDocument(pool, {
          collectionId,
          uri: `${doc.uri}?bench-copy=${copy}`,
          kind: doc.kind,
          chunkerVersion: CURRENT_CHUNKER_VERSION,
          title: doc.title,
          contentHash: sha256Hex(rows.map((r) => r.text).join('\n')),
          bytes: Number(doc.bytes),
          links: [],
          metadata: { benchCopyOf: doc.uri, copy },
          chunks: rows,
        });
      });
    }
  }
  // A few writers at once: each document is its own transaction.
  let next = 0;
  await Promise.all(
    Array.from({ length: 6 }, async () => {
      while (next < tasks.length) await tasks[next++]!();
    }),
  );
}

/**
 * The embed jobs the crawl processor would enqueue for every document
 * (nothing is embedded yet): one per document, or one per `docsPerJob`
 * documents with their distinct hashes merged.
 */
async function buildWorkload(
  pool: pg.Pool,
  manual: { chunks: number; tokens: number; pages: number },
  docsPerJob: number,
): Promise<Workload> {
  const collectionId = await ensureCollection(pool, COLLECTION);
  const { rows } = await pool.query<{ id: string; uri: string }>(
    `SELECT id, uri FROM documents WHERE collection_id = $1 ORDER BY id`,
    [collectionId],
  );
  const key = { model: MODEL, dimensions: loadConfig({ EMBEDDING_MODEL: MODEL }).embedding.dimensions };
  const perDoc: Workload['jobs'] = [];
  for (const d of rows) {
    const hashes = (await missingForDocument(pool, Number(d.id), key)).map((m) => m.chunkHash);
    if (hashes.length) perDoc.push({ uri: d.uri, hashes });
  }
  const jobs: Workload['jobs'] = [];
  for (let i = 0; i < perDoc.length; i += docsPerJob) {
    const group = perDoc.slice(i, i + docsPerJob);
    jobs.push({
      uri: group.length > 1 ? `${group[0]!.uri} and ${group.length - 1} more` : group[0]!.uri,
      hashes: [...new Set(group.flatMap((g) => g.hashes))].sort(),
    });
  }
  const totals = await distinctTotals(pool);
  return { jobs, ...totals, manualChunks: manual.chunks, manualTokens: manual.tokens, manualPages: manual.pages };
}

// ---------------------------------------------------------------- runs

interface ConfigResult {
  name: string;
  wallMs: number;
  requests: number;
  rateLimited: number;
  /** Tokens the emulator admitted (what the client sent). */
  tokens: number;
  /** Of those, the job's chunk tokens (see resultFrom): what goodput counts. */
  usefulTokens: number;
  inputs: number;
  peakTokens: number;
  peakRequests: number;
  pace: PaceFigures | undefined;
  /** Anything that makes the figures suspect (failures, missing vectors). */
  problems: string[];
  /** Extra facts for the details section. */
  details: string[];
}

/**
 * @param jobTokens the job's own tokens (the distinct chunk texts, cl100k):
 *   goodput counts these, not what the client sent. A client that sends more
 *   tokens for the same chunks (LangChain's stripNewLines) spends TPM without
 *   embedding one chunk more, so its series is scaled by jobTokens ÷ tokens
 *   sent. The 429 and peak-window figures stay in tokens sent: the limit
 *   counts those.
 */
function resultFrom(
  name: string,
  wallMs: number,
  stats: EmulatorStats,
  samples: Sample[],
  opts: BenchOptions,
  jobTokens: number,
): ConfigResult {
  // The raw series, for plotting a run's admissions over time.
  if (process.env.BENCH_TRACE)
    writeFileSync(`${process.env.BENCH_TRACE}-${name.replace(/\W+/g, '')}.json`, JSON.stringify(samples));
  const w = stats.windows.byModel[MODEL];
  const useful = stats.tokensAccepted > 0 ? Math.min(1, jobTokens / stats.tokensAccepted) : 1;
  return {
    name,
    wallMs,
    requests: stats.requests.total,
    rateLimited: stats.requests.byStatus['429'] ?? 0,
    tokens: stats.tokensAccepted,
    usefulTokens: Math.round(stats.tokensAccepted * useful),
    inputs: stats.inputsAccepted,
    peakTokens: w?.peakTokens ?? 0,
    peakRequests: w?.peakRequests ?? 0,
    pace: paceFigures(
      useful === 1 ? samples : samples.map((x) => ({ ...x, tokens: x.tokens * useful })),
      opts.windowMs,
      opts.tpm,
    ),
    problems: [],
    details: [],
  };
}

/** One Sluice configuration: N `sluice worker embed` processes on a fresh queue prefix. */
async function runSluice(
  n: number,
  ctx: {
    emu: Emulator;
    pool: pg.Pool;
    workload: Workload;
    baseEnv: Record<string, string>;
    prefix: string;
    opts: BenchOptions;
  },
): Promise<ConfigResult> {
  const { emu, pool, workload, opts } = ctx;
  const name = `sluice ×${n}`;
  // A fresh prefix per configuration: empty queues, run, claims and — above
  // all — an empty shared budget, like the freshly reset emulator window.
  const env: Record<string, string> = {
    ...ctx.baseEnv,
    QUEUE_PREFIX: ctx.prefix,
    OPENAI_BASE_URL: emu.apiUrl,
    OPENAI_API_KEY: 'bench',
    EMBEDDING_MODEL: MODEL,
    EMBEDDING_RPM: String(opts.rpm),
    EMBEDDING_TPM: String(opts.tpm),
    EMBEDDING_RATE_WINDOW_MS: String(opts.windowMs),
    LOG_LEVEL: 'warn',
    ...(opts.embedConcurrency ? { EMBED_CONCURRENCY: String(opts.embedConcurrency) } : {}),
    ...(opts.coalesceMs !== undefined ? { EMBEDDING_COALESCE_MS: String(opts.coalesceMs) } : {}),
  };
  const config = loadConfig(env);
  const rt = await openRuntime(config, createLogger('error'), { role: 'bench' });
  const workers: ChildProcess[] = [];
  try {
    await pool.query('TRUNCATE embeddings, cost_ledger');
    const runId = newRunId();
    const { model, dimensions } = config.embedding;
    await rt.producer.add(
      'embed',
      workload.jobs.map((j) => ({
        jobId: `embed-${runId}-${idHash(j.uri, ...j.hashes)}`,
        payload: { runId, collection: COLLECTION, source: j.uri, model, dimensions, chunkHashes: j.hashes },
      })),
      runId,
    );
    await emu.reset();

    const started = Date.now();
    const poller = pollStats(emu, opts.pollMs, progressPrinter(name, workload.tokens, started));
    const died = new AbortController();
    let stopping = false;
    const logs = Array.from({ length: n }, () => {
      const c = spawnCli(['worker', 'embed'], env);
      children.add(c);
      workers.push(c);
      c.stdout!.resume();
      const log = tail(c.stderr!, /rate limited by the API/);
      c.once('exit', (code, signal) => {
        if (!stopping)
          died.abort(
            new Error(`a worker process exited (${code ?? signal}) before the run finished:\n${log.lines.join('\n')}`),
          );
      });
      return log;
    });
    const progress = await waitForRun(rt, runId, {
      pollMs: 250,
      signal: AbortSignal.any([died.signal, AbortSignal.timeout(opts.maxMinutes * 60_000)]),
    });
    const wallMs = Date.now() - started;
    const samples = await poller.stop();
    const stats = await emu.stats();

    stopping = true;
    for (const c of workers) c.kill('SIGTERM');
    const codes = await Promise.all(workers.map((c) => waitExit(c, 40_000)));

    const result = resultFrom(name, wallMs, stats, samples, opts, workload.tokens);
    const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM embeddings`);
    if (progress.failed)
      result.problems.push(
        `${progress.failed} jobs failed: ${JSON.stringify((await rt.tracker.failures(runId)).slice(0, 3))}`,
      );
    if (rows[0]!.n !== workload.chunks)
      result.problems.push(`${rows[0]!.n} embeddings stored, expected ${workload.chunks}`);
    if (stats.inputsAccepted !== workload.chunks) {
      // What was paid for twice: billed (cost ledger) minus what the stored embeddings hold.
      const { rows: money } = await pool.query<{ billed: string | null; stored: string | null }>(
        `SELECT (SELECT sum(tokens) FROM cost_ledger) AS billed, (SELECT sum(token_count) FROM embeddings) AS stored`,
      );
      const twice = Number(money[0]!.billed ?? 0) - Number(money[0]!.stored ?? 0);
      result.problems.push(
        `the emulator embedded ${stats.inputsAccepted} inputs for ${workload.chunks} distinct chunks: ${stats.inputsAccepted - workload.chunks} embedded twice (${twice} tokens billed twice)`,
      );
    }
    if (codes.some((c) => c !== 0))
      result.problems.push(`worker exit codes ${codes.join(', ')} (expected 0 after SIGTERM)`);
    const other = Object.entries(stats.requests.byStatus).filter(([status]) => status !== '200' && status !== '429');
    if (other.length)
      result.problems.push(`emulator statuses other than 200/429: ${JSON.stringify(Object.fromEntries(other))}`);
    const pausedBy429 = logs.reduce((s, l) => s + l.matched, 0);
    result.details.push(
      `${workload.jobs.length} jobs, ${stats.requestsAccepted} requests admitted (${(stats.inputsAccepted / Math.max(1, stats.requestsAccepted)).toFixed(1)} inputs, ${Math.round(stats.tokensAccepted / Math.max(1, stats.requestsAccepted))} tokens each), queue pauses on 429: ${pausedBy429}`,
    );
    const messages = new Map<string, number>();
    for (const l of logs) for (const [m, k] of l.messages) messages.set(m, (messages.get(m) ?? 0) + k);
    if (messages.size)
      result.details.push(`worker log lines: ${[...messages].map(([m, k]) => `${k}× ${m}`).join('; ')}`);
    return result;
  } finally {
    for (const c of workers) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await rt.close();
    await deleteKeys(`${ctx.prefix}:*`);
  }
}

/** LangChain's OpenAIEmbeddings at its defaults on the same distinct chunk texts. */
async function runLangChain(ctx: {
  emu: Emulator;
  pool: pg.Pool;
  workload: Workload;
  tmpDir: string;
  opts: BenchOptions;
}): Promise<ConfigResult> {
  const { emu, pool, workload, opts } = ctx;
  // The texts Sluice embeds: one per distinct chunk hash, chosen as loadChunkTexts does.
  const { rows } = await pool.query<{ text: string }>(
    `SELECT DISTINCT ON (chunk_hash) text FROM chunks ORDER BY chunk_hash`,
  );
  const file = path.join(ctx.tmpDir, 'texts.json');
  writeFileSync(file, JSON.stringify(rows.map((r) => r.text)));
  await emu.reset();

  const spawned = Date.now();
  const poller = pollStats(emu, opts.pollMs, progressPrinter('langchain', workload.tokens, spawned));
  const child = spawn(process.execPath, [LANGCHAIN_CHILD, file, emu.apiUrl, MODEL], {
    cwd: REPO_ROOT,
    // Nothing inherited: no OPENAI_* or LangSmith tracing variables.
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const err = tail(child.stderr!);
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.maxMinutes * 60_000);
  const code = await waitExit(child, opts.maxMinutes * 60_000 + 10_000);
  clearTimeout(timer);
  const samples = await poller.stop();
  const stats = await emu.stats();

  let lc: LangChainResult | undefined;
  try {
    lc = JSON.parse(out.trim().split('\n').pop() ?? '') as LangChainResult;
  } catch {
    lc = undefined;
  }
  const result = resultFrom('langchain', lc?.wallMs ?? Date.now() - spawned, stats, samples, opts, workload.tokens);
  if (!lc) result.problems.push(`no result from the LangChain process (exit ${code}): ${err.lines.join('\n')}`);
  else if (!lc.ok)
    result.problems.push(
      `embedDocuments failed after ${(lc.wallMs / 1000).toFixed(1)} s, its vectors are lost: ${lc.error}`,
    );
  result.details.push(
    `${stats.requestsAccepted} requests admitted (${(stats.inputsAccepted / Math.max(1, stats.requestsAccepted)).toFixed(0)} inputs, ${Math.round(stats.tokensAccepted / Math.max(1, stats.requestsAccepted))} tokens each); ` +
      `tokens sent ${stats.tokensAccepted} vs ${workload.tokens} in the chunk texts (stripNewLines replaces newlines with spaces): ` +
      `its goodput figures count ${((100 * workload.tokens) / Math.max(1, stats.tokensAccepted)).toFixed(1)}% of what it sent`,
  );
  return result;
}

// ---------------------------------------------------------------- report

const f2 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(2));
const pad = (s: string, n: number) => s.padStart(n);

function perMinuteOf(r: ConfigResult, opts: BenchOptions): number {
  return (r.usefulTokens / r.wallMs) * (opts.windowMs / opts.tpm);
}

/** First request admitted → last response sent, ms (Infinity when nothing was admitted). */
function apiMs(r: ConfigResult): number {
  return r.pace ? r.pace.lastResponseAt - r.pace.firstAt : Infinity;
}

function apiSeconds(r: ConfigResult): string {
  const ms = apiMs(r);
  return Number.isFinite(ms) ? (ms / 1000).toFixed(1) : 'n/a';
}

function report(
  opts: BenchOptions,
  workload: Workload,
  results: ConfigResult[],
  benchMs: number,
  load: number[],
): string {
  const windowS = opts.windowMs / 1000;
  const lines: string[] = [];
  lines.push(
    `bench:embed  limits ${opts.rpm} RPM / ${opts.tpm} TPM, window ${windowS} s, latency ${opts.latencyMs} ms + ${opts.latencyPerTokenMs} ms/token, ` +
      `${workload.manualChunks}×${opts.k} chunks (${workload.chunks} distinct), ${(workload.tokens / 1e6).toFixed(2)}M tokens, ${workload.jobs.length} embed jobs` +
      `${opts.embedConcurrency ? `, EMBED_CONCURRENCY=${opts.embedConcurrency}` : ''}${opts.docsPerJob > 1 ? `, ${opts.docsPerJob} documents per embed job` : ''}${opts.coalesceMs !== undefined ? `, EMBEDDING_COALESCE_MS=${opts.coalesceMs}` : ''}`,
  );
  lines.push(
    `goodput counts the job's tokens (the chunk texts), whatever a client sent on top: tokens sent ≠ job tokens is in the details.`,
  );
  lines.push(
    `÷TPM = tokens per ${windowS} s window ÷ ${opts.tpm}. whole run: job tokens ÷ wall time. after 1st min: mean of the complete`,
  );
  lines.push(
    `windows after the first (the partial last one left out). incl. tail: from first request + ${windowS} s to the last request admitted,`,
  );
  lines.push(
    `partial last window included: above 1 for a burst at the end, and it credits a client for what it failed to send in minute 1.`,
  );
  lines.push(
    `wall s: until the work is done (Sluice: every vector written to pgvector, HNSW index included; LangChain: vectors in memory).`,
  );
  lines.push(
    `API s: from the first request admitted to the last response sent, as the emulator saw it: the embedding work alone.`,
  );
  lines.push('');
  lines.push(
    `${'config'.padEnd(13)}${pad('wall s', 8)}${pad('API s', 8)}${pad('requests', 10)}${pad('429s (%)', 16)}${pad('tokens', 11)}${pad('whole run', 11)}${pad('after 1st min', 15)}${pad('incl. tail', 12)}${pad('peak window', 13)}  ÷TPM`,
  );
  for (const r of results) {
    const pct = r.requests ? (100 * r.rateLimited) / r.requests : 0;
    lines.push(
      `${r.name.padEnd(13)}${pad((r.wallMs / 1000).toFixed(1), 8)}${pad(apiSeconds(r), 8)}${pad(String(r.requests), 10)}${pad(`${r.rateLimited} (${pct.toFixed(2)}%)`, 16)}` +
        `${pad(String(r.tokens), 11)}${pad(f2(perMinuteOf(r, opts)), 11)}${pad(f2(r.pace?.fullWindows), 15)}${pad(f2(r.pace?.afterFirstWindow), 12)}${pad(f2(r.peakTokens / opts.tpm), 13)}` +
        `${r.problems.length ? '  ! see details' : ''}`,
    );
  }
  const sluice4 =
    results.find((r) => r.name === 'sluice ×4') ?? results.filter((r) => r.name.startsWith('sluice')).at(-1);
  const lc = results.find((r) => r.name === 'langchain');
  if (sluice4 && lc) {
    const whole = perMinuteOf(sluice4, opts) / perMinuteOf(lc, opts);
    const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b ? a / b : undefined);
    const after = ratio(sluice4.pace?.fullWindows, lc.pace?.fullWindows);
    const tail = ratio(sluice4.pace?.afterFirstWindow, lc.pace?.afterFirstWindow);
    lines.push('');
    lines.push(
      `goodput ratio ${sluice4.name} / langchain after the 1st minute: ${f2(after)} (${f2(sluice4.pace?.fullWindows)} / ${f2(lc.pace?.fullWindows)}); ` +
        `incl. tail ${f2(tail)}; whole run ${f2(whole)} (${f2(perMinuteOf(sluice4, opts))} / ${f2(perMinuteOf(lc, opts))})${lc.problems.length ? ' — langchain failed, see details' : ''}`,
    );
    lines.push(
      `same chunks: ${sluice4.name} ${(sluice4.wallMs / 1000).toFixed(1)} s to stored (API ${apiSeconds(sluice4)} s), ` +
        `langchain ${(lc.wallMs / 1000).toFixed(1)} s to vectors in memory (API ${apiSeconds(lc)} s)${lc.problems.length ? ' (failed)' : ''}`,
    );
  }
  if (sluice4) {
    const pct = sluice4.requests ? sluice4.rateLimited / sluice4.requests : 0;
    const sustained = Math.min(
      sluice4.pace?.afterFirstWindow ?? 0,
      sluice4.pace?.fullWindows ?? sluice4.pace?.afterFirstWindow ?? 0,
    );
    const checks = [
      `${sluice4.name} sustained ≥ 0.9 TPM after the 1st minute (and incl. tail): ${sustained >= 0.9 ? 'yes' : 'NO'}`,
      `429s ≤ 1% of requests: ${pct <= 0.01 ? 'yes' : 'NO'}`,
      ...(lc
        ? [
            `ahead of LangChain after the 1st minute: ${(sluice4.pace?.fullWindows ?? 0) > (lc.pace?.fullWindows ?? Infinity) ? 'yes' : 'NO'}`,
            `incl. tail: ${(sluice4.pace?.afterFirstWindow ?? 0) > (lc.pace?.afterFirstWindow ?? Infinity) ? 'yes' : 'NO'}`,
            `API time shorter than LangChain's: ${apiMs(sluice4) < apiMs(lc) ? 'yes' : 'NO'}`,
            `whole run (stored vs in memory) ahead: ${perMinuteOf(sluice4, opts) > perMinuteOf(lc, opts) ? 'yes' : 'NO'}`,
          ]
        : []),
    ];
    lines.push(`targets: ${checks.join('; ')}`);
  }
  lines.push('');
  lines.push('details:');
  for (const r of results) {
    const p = r.pace;
    const windows = p
      ? p.perWindow
          .map((x, i) =>
            i === p.perWindow.length - 1 && p.lastWindowFraction < 0.999
              ? `${f2(x)} in the last ${(p.lastWindowFraction * windowS).toFixed(0)} s`
              : f2(x),
          )
          .join(' · ')
      : 'n/a';
    lines.push(
      `  ${r.name}: tokens ÷TPM per window from the first request: ${windows}; peak window ${r.peakRequests} requests ÷RPM ${f2(r.peakRequests / opts.rpm)}`,
    );
    for (const d of r.details) lines.push(`    ${d}`);
    for (const d of r.problems) lines.push(`    ! ${d}`);
  }
  lines.push(
    `machine: ${os.cpus().length} CPUs, load average ${load.map((x) => x.toFixed(1)).join(' ')} at the start, ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(
        ' ',
      )} at the end; bench wall time ${(benchMs / 60_000).toFixed(1)} min; emulator niceness ${Emulator.prioritised ? Emulator.PRIORITY : 0}`,
  );
  return lines.join('\n');
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2), process.env);
  const benchStarted = Date.now();
  const load = os.loadavg();
  await requireRedis();
  await requirePostgres();

  const id = randomBytes(4).toString('hex');
  const prefix = `sluice-bench-${id}`;
  const schema = `bench_${id}`;
  const baseEnv: Record<string, string> = {
    REDIS_URL: TEST_REDIS_URL,
    DATABASE_URL: TEST_DATABASE_URL,
    DATABASE_SCHEMA: schema,
    // The manual is served on loopback: allowed by configuration, as an operator would (docs/design.md, "SSRF guard").
    CRAWL_ALLOW_HOSTS: '127.0.0.1',
  };
  const tmpDir = mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-'));
  cleanups.push(async () => rmSync(tmpDir, { recursive: true, force: true }));
  cleanups.push(async () => {
    const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await c.connect();
    try {
      await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await c.end();
    }
  });
  cleanups.push(() => deleteKeys(`${prefix}*`));

  const emu = await Emulator.start();
  await emu.configure({
    rpm: opts.rpm,
    tpm: opts.tpm,
    windowMs: opts.windowMs,
    latencyMs: opts.latencyMs,
    latencyPerTokenMs: opts.latencyPerTokenMs,
  });
  note(`emulator at ${emu.apiUrl}; schema ${schema}, queue prefix ${prefix}*`);

  // The crawl's runtime points at the emulator too, so it never starts a built-in one.
  await crawlManual({ ...baseEnv, OPENAI_BASE_URL: emu.apiUrl, OPENAI_API_KEY: 'bench' }, `${prefix}-crawl`);
  const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 8, options: `-c search_path=${schema},public` });
  cleanups.push(() => pool.end());
  const manual = await distinctTotals(pool);
  const { rows: pages } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM documents`);
  await addCopies(pool, opts.k);
  const workload = await buildWorkload(pool, { ...manual, pages: pages[0]!.n }, opts.docsPerJob);
  note(
    `workload: ${workload.manualPages} pages × ${opts.k} → ${workload.jobs.length} embed jobs, ${workload.chunks} distinct chunks, ${workload.tokens} tokens`,
  );

  const results: ConfigResult[] = [];
  for (const n of opts.processes) {
    note(`sluice ×${n}: starting`);
    const r = await runSluice(n, { emu, pool, workload, baseEnv, prefix: `${prefix}-n${n}`, opts });
    results.push(r);
    note(
      `sluice ×${n}: ${(r.wallMs / 1000).toFixed(1)} s, ${r.requests} requests, ${r.rateLimited} 429s, after 1st minute ${f2(r.pace?.fullWindows)} TPM (incl. tail ${f2(r.pace?.afterFirstWindow)})${r.problems.length ? `; ${r.problems.join('; ')}` : ''}`,
    );
  }
  if (opts.langchain) {
    note('langchain: starting');
    const r = await runLangChain({ emu, pool, workload, tmpDir, opts });
    results.push(r);
    note(
      `langchain: ${(r.wallMs / 1000).toFixed(1)} s, ${r.requests} requests, ${r.rateLimited} 429s${r.problems.length ? `; ${r.problems.join('; ')}` : ''}`,
    );
  }
  process.stdout.write(`\n${report(opts, workload, results, Date.now() - benchStarted, load)}\n`);
}

try {
  await main();
} catch (err) {
  note(`failed: ${(err as Error)?.stack ?? String(err)}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
