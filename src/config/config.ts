/**
 * Configuration: the environment is parsed once, validated with zod, and
 * turned into a typed nested object. A bad value fails fast with a message
 * that names the variable and the fix. `.env.example` lists every variable.
 */
import path from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../errors/index.ts';
import { EMBEDDING_DEFAULT_DIMENSIONS, EMBEDDING_PRICES_USD_PER_MTOK } from '../openai/prices.ts';

const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);
const bool = (def: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no', ''])
    .default(def ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const EnvSchema = z.object({
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATA_DIR: z.string().default('.data'),
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]+$/)
    .default('sluice'),
  DATABASE_URL: optionalString,
  DATABASE_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/)
    .default('sluice'),
  DATABASE_POOL_MAX: int(10, 1),
  DATABASE_WRITE_POOL_MAX: int(2, 1),
  PGLITE_PORT: int(0, 0),
  OPENAI_API_KEY: optionalString,
  OPENAI_BASE_URL: optionalString.pipe(z.string().url().optional()),
  OPENAI_TIMEOUT_MS: int(60_000, 1),
  OPENAI_MAX_RETRIES: int(0, 0),
  EMBEDDING_MODEL: z.string().min(1).default('text-embedding-3-small'),
  EMBEDDING_DIMENSIONS: z.coerce.number().int().min(1).optional(),
  EMBEDDING_MAX_INPUTS: int(2048, 1),
  EMBEDDING_MAX_REQUEST_TOKENS: int(300_000, 1),
  EMBEDDING_MAX_INPUT_TOKENS: int(8191, 1),
  EMBEDDING_PRICE_USD_PER_MTOK: z.coerce.number().min(0).optional(),
  EMBEDDING_RPM: int(3000, 1),
  EMBEDDING_TPM: int(1_000_000, 1),
  EMBEDDING_RATE_WINDOW_MS: int(60_000, 1),
  EMBEDDING_RETRIES: int(2, 0),
  EMBEDDING_COALESCE_MS: int(20, 0),
  EMBED_CLAIM_TTL_MS: int(60_000, 100),
  OPENAI_UPLOAD_RPM: int(1000, 1),
  UPLOAD_CONCURRENCY: int(8, 1),
  SCHEDULE_CONCURRENCY: int(8, 1),
  SCHEDULES_FILE: optionalString,
  CHUNK_MAX_TOKENS: int(512, 16),
  CHUNK_OVERLAP_TOKENS: int(64, 0),
  CRAWL_MAX_PAGES: int(5000, 1),
  CRAWL_MAX_DEPTH: int(25, 0),
  CRAWL_MAX_BYTES: int(5_000_000, 1),
  CRAWL_TIMEOUT_MS: int(15_000, 1),
  CRAWL_MAX_REDIRECTS: int(5, 0),
  CRAWL_USER_AGENT: z.string().default('SluiceBot/0.1 (+https://github.com/sluice)'),
  CRAWL_ALLOW_PRIVATE_NETWORKS: bool(false),
  CRAWL_CONCURRENCY: int(8, 1),
  DOCUMENT_CPU_LIMIT_MS: int(30_000, 1),
  EMBED_CONCURRENCY: int(256, 1),
  JOB_ATTEMPTS: int(5, 1),
  JOB_BACKOFF_MS: int(2000, 0),
  KEEP_COMPLETED_SECONDS: int(3600, 0),
  KEEP_COMPLETED_COUNT: int(1000, 0),
  KEEP_FAILED_SECONDS: int(7 * 24 * 3600, 0),
  KEEP_FAILED_COUNT: int(10_000, 0),
  SHUTDOWN_TIMEOUT_MS: int(30_000, 0),
  TTL_DAYS: int(30, 1),
  CLEANUP_CRON: z.string().trim().min(1).default('0 4 * * *'),
  REINDEX_MAX_DELETE_FRACTION: z.coerce.number().min(0).max(1).default(0.2),
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  METRICS_HOST: z.string().default('127.0.0.1'),
});

export type Env = z.input<typeof EnvSchema>;

/** The validated, typed configuration of one Sluice process. */
export interface Config {
  logLevel: string;
  /** Directory for embedded data (PGlite) and kept source bytes. Absolute. */
  dataDir: string;
  redis: {
    url: string;
    /** BullMQ key prefix: isolates deployments (and tests) sharing one Redis. */
    prefix: string;
  };
  db: {
    /** Postgres URL; undefined means the embedded PGlite default. */
    url: string | undefined;
    /** Schema holding Sluice's tables (search_path is `schema, public`). */
    schema: string;
    /** Connections per process for everything but vector writes. */
    poolMax: number;
    /**
     * Connections per process for vector writes (src/db/db.ts `writePool`):
     * each new row costs an HNSW insertion (milliseconds of CPU at 1,536
     * dimensions), which must never hold up the lookups and claims that gate
     * the next API request.
     */
    writePoolMax: number;
    /** Loopback port for the embedded PGlite socket server (0 = any free port). */
    pgliteport: number;
  };
  openai: {
    /** undefined with no base URL means: start the built-in emulator. */
    apiKey: string | undefined;
    baseURL: string | undefined;
    /** Per-request timeout, ms. */
    timeoutMs: number;
    /** The SDK's own retries. 0 by default: Sluice owns retry decisions. */
    maxRetries: number;
    /** File uploads per minute, shared by every process (docs/openai-facts.md, "Files": 1,000/min per user). */
    uploadRpm: number;
  };
  embedding: {
    model: string;
    dimensions: number;
    /** Inputs per request (docs/openai-facts.md, "Embeddings": ≤ 2048). */
    maxInputs: number;
    /**
     * Tokens per request, summed over inputs (docs/openai-facts.md, "Embeddings": ≤ 300,000). Packing
     * also keeps requests within 2% of `tpm` (src/embed/packing.ts `requestTokenLimit`).
     */
    maxRequestTokens: number;
    /** Tokens per input (docs/openai-facts.md, "Embeddings": 8192, use 8191). */
    maxInputTokens: number;
    /** USD per 1M tokens (docs/openai-facts.md, "Embeddings": prices; changes). */
    priceUsdPerMTok: number;
    /** Requests per minute shared by every worker (docs/openai-facts.md, "Rate limits": tier 1 3,000). */
    rpm: number;
    /** Tokens per minute shared by every worker (docs/openai-facts.md, "Rate limits": tier 1 1,000,000). */
    tpm: number;
    /** Length of the rate-limit window, ms (OpenAI: a minute). */
    rateWindowMs: number;
    /** In-job retries of 5xx, timeouts and dropped connections before the job's own attempts. */
    retries: number;
    /**
     * How long a job's request waits for other jobs in the same process to
     * share it, ms (src/embed/coalescer.ts). 0 sends every job's request on its own.
     */
    coalesceMs: number;
    /**
     * How long a chunk-hash claim outlives its owner's last renewal, ms
     * (src/embed/claims.ts): how long a killed worker's hashes block other
     * jobs. Owners renew every third of it while they wait and embed.
     */
    claimTtlMs: number;
  };
  chunk: {
    /** Upper bound of a chunk, tokens (cl100k_base). */
    maxTokens: number;
    /** Tokens repeated from the previous chunk of the same section. */
    overlapTokens: number;
  };
  crawl: {
    maxPages: number;
    maxDepth: number;
    /** Largest page body accepted, bytes. */
    maxBytes: number;
    timeoutMs: number;
    maxRedirects: number;
    userAgent: string;
    allowPrivateNetworks: boolean;
    /**
     * Longest a worker thread may extract, chunk and hash one document, ms
     * (docs/design.md, "CPU limit per document"): over it the thread is
     * stopped and the document fails with DocumentCpuLimitError. A 5 MB page
     * of prose takes ~2 s on one core; the default leaves room for a loaded
     * machine.
     */
    documentCpuLimitMs: number;
  };
  workers: {
    crawlConcurrency: number;
    /**
     * Embed jobs at once per process. High because an embed job mostly
     * waits (for the shared budget, the API, its vector writes), holds
     * ~100 kB, and concurrent jobs share API requests through the coalescer:
     * enough of them lets a process fill a window's budget in one burst
     * while earlier jobs are still writing their vectors.
     */
    embedConcurrency: number;
    uploadConcurrency: number;
    /**
     * Schedule ticks at once per process. A tick holds its slot while its run
     * goes, so it should be at least the number of schedules: then a tick of a
     * schedule whose run is still going is seen (and skipped) on time.
     */
    scheduleConcurrency: number;
    shutdownTimeoutMs: number;
  };
  /** YAML or JSON schedules that worker processes upsert at start (docs/design.md, "Schedules"); absolute. */
  schedulesFile: string | undefined;
  jobs: {
    attempts: number;
    /** First exponential backoff delay, ms. */
    backoffMs: number;
    keepCompleted: { age: number; count: number };
    keepFailed: { age: number; count: number };
  };
  ttlDays: number;
  /**
   * When cleanup workers run TTL cleanup: a cron pattern (UTC) for the
   * cleanup queue's job scheduler, or `off` (docs/design.md, "TTL cleanup").
   */
  cleanupCron: string;
  reindex: {
    /**
     * The largest share of a run's scope deletion sync removes without
     * `allowMassDelete`, 0..1 (docs/design.md, "Deletion sync"): more looks
     * like an outage or a broken site, not like pages removed on purpose.
     */
    maxDeleteFraction: number;
  };
  metrics: {
    /** Port of /metrics and /healthz for worker processes; undefined = off. */
    port: number | undefined;
    host: string;
  };
}

/**
 * Parses and validates the environment.
 * @throws ConfigError naming each bad variable, its value and what is expected.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0]);
      return `${name}=${JSON.stringify(env[name])}: ${issue.message}. Fix it in the environment or .env (see .env.example).`;
    });
    throw new ConfigError(`Invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const e = parsed.data;
  const dimensions = e.EMBEDDING_DIMENSIONS ?? EMBEDDING_DEFAULT_DIMENSIONS[e.EMBEDDING_MODEL];
  if (dimensions === undefined) {
    throw new ConfigError(
      `EMBEDDING_DIMENSIONS is required for EMBEDDING_MODEL=${e.EMBEDDING_MODEL}: its default dimensions are unknown.`,
    );
  }
  if (e.EMBEDDING_DIMENSIONS !== undefined && e.EMBEDDING_MODEL === 'text-embedding-ada-002' && dimensions !== 1536) {
    throw new ConfigError('EMBEDDING_DIMENSIONS: text-embedding-ada-002 has fixed 1536 dimensions; unset it.');
  }
  if (e.CHUNK_OVERLAP_TOKENS >= e.CHUNK_MAX_TOKENS / 2) {
    throw new ConfigError(
      `CHUNK_OVERLAP_TOKENS=${e.CHUNK_OVERLAP_TOKENS} must be below half of CHUNK_MAX_TOKENS=${e.CHUNK_MAX_TOKENS}.`,
    );
  }
  if (e.CHUNK_MAX_TOKENS > e.EMBEDDING_MAX_INPUT_TOKENS) {
    throw new ConfigError(
      `CHUNK_MAX_TOKENS=${e.CHUNK_MAX_TOKENS} exceeds EMBEDDING_MAX_INPUT_TOKENS=${e.EMBEDDING_MAX_INPUT_TOKENS}.`,
    );
  }
  const price = e.EMBEDDING_PRICE_USD_PER_MTOK ?? EMBEDDING_PRICES_USD_PER_MTOK[e.EMBEDDING_MODEL] ?? 0;
  return {
    logLevel: e.LOG_LEVEL,
    dataDir: path.resolve(e.DATA_DIR),
    redis: { url: e.REDIS_URL, prefix: e.QUEUE_PREFIX },
    db: {
      url: e.DATABASE_URL,
      schema: e.DATABASE_SCHEMA,
      poolMax: e.DATABASE_POOL_MAX,
      writePoolMax: e.DATABASE_WRITE_POOL_MAX,
      pgliteport: e.PGLITE_PORT,
    },
    openai: {
      apiKey: e.OPENAI_API_KEY,
      baseURL: e.OPENAI_BASE_URL,
      timeoutMs: e.OPENAI_TIMEOUT_MS,
      maxRetries: e.OPENAI_MAX_RETRIES,
      uploadRpm: e.OPENAI_UPLOAD_RPM,
    },
    embedding: {
      model: e.EMBEDDING_MODEL,
      dimensions,
      maxInputs: e.EMBEDDING_MAX_INPUTS,
      maxRequestTokens: e.EMBEDDING_MAX_REQUEST_TOKENS,
      maxInputTokens: e.EMBEDDING_MAX_INPUT_TOKENS,
      priceUsdPerMTok: price,
      rpm: e.EMBEDDING_RPM,
      tpm: e.EMBEDDING_TPM,
      rateWindowMs: e.EMBEDDING_RATE_WINDOW_MS,
      retries: e.EMBEDDING_RETRIES,
      coalesceMs: e.EMBEDDING_COALESCE_MS,
      claimTtlMs: e.EMBED_CLAIM_TTL_MS,
    },
    chunk: { maxTokens: e.CHUNK_MAX_TOKENS, overlapTokens: e.CHUNK_OVERLAP_TOKENS },
    crawl: {
      maxPages: e.CRAWL_MAX_PAGES,
      maxDepth: e.CRAWL_MAX_DEPTH,
      maxBytes: e.CRAWL_MAX_BYTES,
      timeoutMs: e.CRAWL_TIMEOUT_MS,
      maxRedirects: e.CRAWL_MAX_REDIRECTS,
      userAgent: e.CRAWL_USER_AGENT,
      allowPrivateNetworks: e.CRAWL_ALLOW_PRIVATE_NETWORKS,
      documentCpuLimitMs: e.DOCUMENT_CPU_LIMIT_MS,
    },
    workers: {
      crawlConcurrency: e.CRAWL_CONCURRENCY,
      embedConcurrency: e.EMBED_CONCURRENCY,
      uploadConcurrency: e.UPLOAD_CONCURRENCY,
      scheduleConcurrency: e.SCHEDULE_CONCURRENCY,
      shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    },
    jobs: {
      attempts: e.JOB_ATTEMPTS,
      backoffMs: e.JOB_BACKOFF_MS,
      keepCompleted: { age: e.KEEP_COMPLETED_SECONDS, count: e.KEEP_COMPLETED_COUNT },
      keepFailed: { age: e.KEEP_FAILED_SECONDS, count: e.KEEP_FAILED_COUNT },
    },
    schedulesFile: e.SCHEDULES_FILE === undefined ? undefined : path.resolve(e.SCHEDULES_FILE),
    ttlDays: e.TTL_DAYS,
    cleanupCron: e.CLEANUP_CRON,
    reindex: { maxDeleteFraction: e.REINDEX_MAX_DELETE_FRACTION },
    metrics: { port: e.METRICS_PORT, host: e.METRICS_HOST },
  };
}
