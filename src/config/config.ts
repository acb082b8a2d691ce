/**
 * Configuration: the environment is parsed once, validated with zod, and
 * turned into a typed nested object. A bad value fails fast with a message
 * that names the variable and the fix. `.env.example` lists every variable.
 */
import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { CHUNKER_VERSIONS, type ChunkerVersion, CURRENT_CHUNKER_VERSION } from '../chunk/chunker.ts';
import { ConfigError } from '../errors/index.ts';
import { parseGoDuration } from '../openai/go-duration.ts';
import { DEPLOYMENT_ID_PATTERN } from '../openai/labels.ts';
import { ASSOCIATE_DEADLINE_MS, maxPollDeadlineMs } from '../openai/poll.ts';
import { EMBEDDING_DEFAULT_DIMENSIONS, EMBEDDING_PRICES_USD_PER_MTOK } from '../openai/prices.ts';

/** Where OpenAI's per-request limits are written down (a unit test checks the heading exists). */
const FACTS_EMBEDDINGS = 'docs/openai-facts.md, "Embeddings"';
/** Inputs per embeddings request (docs/openai-facts.md, "Embeddings": ≤ 2048). */
export const OPENAI_MAX_INPUTS = 2048;
/** Tokens per embeddings request, summed (docs/openai-facts.md, "Embeddings": ≤ 300,000). */
export const OPENAI_MAX_REQUEST_TOKENS = 300_000;

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
  REDIS_COMMAND_TIMEOUT_MS: int(10_000, 1),
  DATABASE_URL: optionalString,
  DATABASE_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/)
    .default('sluice'),
  DATABASE_POOL_MAX: int(10, 1),
  DATABASE_WRITE_POOL_MAX: int(2, 1),
  DATABASE_CONNECT_TIMEOUT_MS: int(10_000, 1),
  DATABASE_STATEMENT_TIMEOUT_MS: int(120_000, 0),
  DATABASE_IDLE_TIMEOUT_MS: int(30_000, 0),
  DATABASE_KEEPALIVE_DELAY_MS: int(10_000, 0),
  PGLITE_PORT: int(0, 0),
  OPENAI_API_KEY: optionalString,
  OPENAI_EMULATOR: z
    .enum(['true', 'false', '1', '0', 'yes', 'no', ''])
    .optional()
    .transform((v) => (v === undefined || v === '' ? undefined : v === 'true' || v === '1' || v === 'yes')),
  EMBEDDINGS_PROVIDER: z
    .string()
    .trim()
    .regex(/^[a-z0-9][a-z0-9_.-]{0,39}$/, 'lowercase letters, digits, "_", "." and "-", at most 40')
    .default('openai'),
  OPENAI_BASE_URL: optionalString.pipe(z.string().url().optional()),
  OPENAI_TIMEOUT_MS: int(45_000, 1),
  ALLOW_OPENAI_TIMEOUT_OVER_SHUTDOWN: bool(false),
  OPENAI_MAX_RETRIES: int(0, 0),
  OPENAI_POLL_DEADLINE_MS: int(240_000, 1),
  DEPLOYMENT_ID: optionalString.pipe(
    z
      .string()
      .regex(DEPLOYMENT_ID_PATTERN, 'letters, digits, "_" and "-", starting with a letter or digit, at most 40')
      .optional(),
  ),
  EMBEDDING_MODEL: z.string().min(1).default('text-embedding-3-small'),
  EMBEDDING_DIMENSIONS: z.coerce.number().int().min(1).optional(),
  EMBEDDING_MAX_INPUTS: int(2048, 1).pipe(
    z
      .number()
      .max(OPENAI_MAX_INPUTS, `over OpenAI's limit of ${OPENAI_MAX_INPUTS} inputs per request (${FACTS_EMBEDDINGS})`),
  ),
  EMBEDDING_MAX_REQUEST_TOKENS: int(300_000, 1).pipe(
    z
      .number()
      .max(
        OPENAI_MAX_REQUEST_TOKENS,
        `over OpenAI's limit of ${OPENAI_MAX_REQUEST_TOKENS} tokens per request (${FACTS_EMBEDDINGS})`,
      ),
  ),
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
  CHUNKER_VERSION: z.coerce
    .number()
    .int()
    .refine((v) => (CHUNKER_VERSIONS as readonly number[]).includes(v), {
      message: `must be one of ${CHUNKER_VERSIONS.join(', ')}`,
    })
    .default(CURRENT_CHUNKER_VERSION),
  CRAWL_MAX_PAGES: int(5000, 1),
  CRAWL_MAX_DEPTH: int(25, 0),
  CRAWL_MAX_BYTES: int(5_000_000, 1),
  CRAWL_TIMEOUT_MS: int(15_000, 1),
  CRAWL_MAX_REDIRECTS: int(5, 0),
  CRAWL_USER_AGENT: z.string().default('SluiceBot/0.1 (+https://github.com/sluice)'),
  CRAWL_ALLOW_PRIVATE_NETWORKS: bool(false),
  CRAWL_ALLOW_HOSTS: z.string().default(''),
  CRAWL_DNS_SERVERS: z.string().default(''),
  SOURCE_ROOTS: z.string().default(''),
  SOURCE_MAX_FILES: int(100_000, 1),
  CRAWL_CONCURRENCY: int(8, 1),
  DOCUMENT_CPU_LIMIT_MS: int(30_000, 1),
  CRAWL_SITEMAPS: bool(true),
  SITEMAP_MAX_URLS: int(100_000, 1),
  SITEMAP_MAX_FILES: int(50, 1),
  SITEMAP_DEADLINE_MS: int(60_000, 1),
  EMBED_CONCURRENCY: int(256, 1),
  JOB_ATTEMPTS: int(5, 1),
  JOB_BACKOFF_MS: int(2000, 0),
  KEEP_COMPLETED_SECONDS: int(3600, 0),
  KEEP_COMPLETED_COUNT: int(1000, 0),
  KEEP_FAILED_SECONDS: int(7 * 24 * 3600, 0),
  KEEP_FAILED_COUNT: int(10_000, 0),
  SHUTDOWN_TIMEOUT_MS: int(60_000, 0),
  STARTUP_WAIT_MS: int(900_000, 0),
  JOB_DEADLINES: z.string().default(''),
  JOB_LOCK_MS: int(30_000, 1_000),
  JOB_MAX_STALLS: int(10, 1),
  TTL_DAYS: int(30, 1),
  CLEANUP_CRON: z.string().trim().min(1).default('0 4 * * *'),
  ORPHAN_GRACE_HOURS: int(24, 1),
  REINDEX_MAX_DELETE_FRACTION: z.coerce.number().min(0).max(1).default(0.2),
  DEPENDENCY_PROBE_MS: int(2_000, 100),
  DEPENDENCY_PROBE_TIMEOUT_MS: int(3_000, 100),
  DEPENDENCY_WAIT_MS: int(120_000, 0),
  READY_FETCH_STALL_MS: int(30_000, 1_000),
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  METRICS_HOST: z.string().default('127.0.0.1'),
});

export type Env = z.input<typeof EnvSchema>;

/** The queues that have a job deadline (every queue; kept here so config does not import the queue contracts). */
export type QueueNameForDeadline = 'crawl' | 'embed' | 'upload' | 'associate' | 'cleanup' | 'schedule';

/**
 * Default deadline of one job attempt per queue, ms. Embed jobs may queue for
 * the shared budget behind a long backlog; associate jobs poll file batches;
 * a schedule tick waits for its whole run.
 */
export const DEFAULT_JOB_DEADLINES_MS: Readonly<Record<QueueNameForDeadline, number>> = {
  crawl: 2 * 60_000,
  embed: 15 * 60_000,
  upload: 10 * 60_000,
  associate: 30 * 60_000,
  cleanup: 60 * 60_000,
  schedule: 24 * 3600_000,
};

/**
 * Parses `JOB_DEADLINES` (`queue=duration` pairs, Go durations: `embed=15m,crawl=90s`)
 * over the defaults.
 * @throws ConfigError naming the bad pair.
 */
export function parseJobDeadlines(spec: string): Record<QueueNameForDeadline, number> {
  const out = { ...DEFAULT_JOB_DEADLINES_MS };
  for (const pair of spec
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [queue, duration] = pair.split('=').map((x) => x.trim());
    if (!queue || !(queue in out) || !duration)
      throw new ConfigError(
        `JOB_DEADLINES: "${pair}" is not queue=duration with a queue of ${Object.keys(out).join(', ')} (e.g. embed=15m).`,
      );
    let ms: number;
    try {
      ms = parseGoDuration(duration);
    } catch (err) {
      throw new ConfigError(`JOB_DEADLINES: "${pair}": ${(err as Error).message} (e.g. embed=15m, crawl=90s).`);
    }
    if (ms < 1000) throw new ConfigError(`JOB_DEADLINES: "${pair}" is under 1s.`);
    out[queue as QueueNameForDeadline] = ms;
  }
  return out;
}

/** One network of `CRAWL_ALLOW_HOSTS`: an address and a prefix length. */
export interface AllowedNetwork {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/**
 * Parses `CRAWL_ALLOW_HOSTS`: comma-separated host names (`docs.internal`),
 * IP addresses (`127.0.0.1`, `::1`) and CIDR networks (`10.1.0.0/16`,
 * `fd00::/8`). A host name is allowed whatever it resolves to; an address or
 * network allows every host that resolves into it.
 * @throws ConfigError naming the bad entry.
 */
export function parseAllowHosts(spec: string): { hosts: string[]; networks: AllowedNetwork[] } {
  const hosts: string[] = [];
  const networks: AllowedNetwork[] = [];
  for (const raw of spec
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const entry = raw.replace(/^\[([^\]]*)\](\/\d+)?$/, '$1$2').toLowerCase();
    const [address = '', bits, ...rest] = entry.split('/');
    const family = isIP(address);
    if (family !== 0 && rest.length === 0) {
      const max = family === 4 ? 32 : 128;
      const prefix = bits === undefined ? max : Number(bits);
      if (!/^\d{1,3}$/.test(bits ?? String(max)) || prefix > max)
        throw new ConfigError(`CRAWL_ALLOW_HOSTS: "${raw}" has a bad prefix length (0..${max}).`);
      networks.push({ address, prefix, family: family === 4 ? 'ipv4' : 'ipv6' });
      continue;
    }
    // A DNS name: labels of letters, digits and "-", a trailing dot allowed.
    if (
      bits === undefined &&
      /^(?=.{1,253}\.?$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.?$/.test(
        entry,
      )
    ) {
      hosts.push(entry.replace(/\.$/, ''));
      continue;
    }
    throw new ConfigError(
      `CRAWL_ALLOW_HOSTS: "${raw}" is not a host name, an IP address or a CIDR network (e.g. docs.internal,10.1.0.0/16,::1).`,
    );
  }
  return { hosts, networks };
}

/**
 * Parses `CRAWL_DNS_SERVERS`: comma-separated `ip` or `ip:port` (`[ipv6]:port`)
 * that crawl host names are resolved with instead of the system resolver.
 * @throws ConfigError naming the bad entry.
 */
export function parseDnsServers(spec: string): string[] {
  const out: string[] = [];
  for (const raw of spec
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d{1,5}))?$/.exec(raw) ?? /^([0-9a-f:]+)$/i.exec(raw);
    const host = m?.[1] ?? m?.[2];
    if (!host || isIP(host) === 0 || (m?.[3] !== undefined && Number(m[3]) > 65535))
      throw new ConfigError(
        `CRAWL_DNS_SERVERS: "${raw}" is not an IP address with an optional port (e.g. 10.0.0.2:53).`,
      );
    out.push(raw);
  }
  return out;
}

/**
 * Parses `SOURCE_ROOTS` (separated by "${path.delimiter}" or ","): the directories
 * local sources may come from, made absolute against `cwd`.
 */
export function parseSourceRoots(spec: string, cwd = process.cwd()): string[] {
  return [
    ...new Set(
      spec
        .split(new RegExp(`[,${path.delimiter}]`))
        .map((p) => p.trim())
        .filter(Boolean)
        .map((p) => path.resolve(cwd, p)),
    ),
  ];
}

/** The validated, typed configuration of one Sluice process. */
export interface Config {
  logLevel: string;
  /** Directory for embedded data (PGlite) and kept source bytes. Absolute. */
  dataDir: string;
  redis: {
    url: string;
    /** BullMQ key prefix: isolates deployments (and tests) sharing one Redis. */
    prefix: string;
    /**
     * Deadline of one Redis command on the main connection of a worker
     * process, ms (`REDIS_COMMAND_TIMEOUT_MS`): a half-open connection fails
     * the command instead of hanging it. Sluice's Lua scripts run in
     * microseconds; BullMQ's blocking reads use a connection of their own.
     */
    commandTimeoutMs: number;
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
    /** Deadline to open a connection (pg `connectionTimeoutMillis`), ms. */
    connectTimeoutMs: number;
    /**
     * Server-side deadline of one statement (`statement_timeout`), ms; 0 = none.
     * Migrations run without it (an index build may take longer).
     */
    statementTimeoutMs: number;
    /** An idle pooled connection is closed after this, ms (pg `idleTimeoutMillis`); 0 = never. */
    idleTimeoutMs: number;
    /**
     * TCP keepalive: first probe after this much idleness, ms; 0 = off. Finds
     * connections a failover or a dropped NAT entry left half-open.
     */
    keepAliveDelayMs: number;
  };
  openai: {
    /**
     * Embeddings come from an emulator (`OPENAI_EMULATOR=true`, or the
     * embedded default: no DATABASE_URL and no key): the one at
     * OPENAI_BASE_URL, else the built-in one. With DATABASE_URL set it is
     * never implied (docs/design.md, "Embeddings provider").
     */
    emulator: boolean;
    /**
     * The name recorded in the database for what fills it: `emulator`, or
     * `EMBEDDINGS_PROVIDER` (default `openai`) for the real API — a proxy in
     * front of OpenAI keeps the name. A process whose provider differs from
     * the database's refuses to start (src/store/provider.ts).
     */
    provider: string;
    apiKey: string | undefined;
    baseURL: string | undefined;
    /** Per-request timeout, ms. */
    timeoutMs: number;
    /** The SDK's own retries. 0 by default: Sluice owns retry decisions. */
    maxRetries: number;
    /** File uploads per minute, shared by every process (docs/openai-facts.md, "Files": 1,000/min per user). */
    uploadRpm: number;
    /**
     * How long one poll of OpenAI may take, ms (default 240,000): a file
     * batch until no file is `in_progress`, or the files re-attached after
     * it. OpenAI files can stay `in_progress` indefinitely, and the SDK's
     * own poll helpers have no deadline (docs/design.md, "Labels, orphans and deadlines").
     * Two polls per file batch and a minute of other requests must fit in
     * the associate's deadline (its 10-minute claim, or `JOB_DEADLINES`
     * associate= when shorter), so at most 270,000 by default.
     */
    pollDeadlineMs: number;
  };
  /**
   * The deployment id that labels every File and vector store Sluice
   * creates (`DEPLOYMENT_ID`; src/openai/labels.ts). Undefined: the id the
   * database generated once (migration 0006), read by
   * src/store/deployment.ts. Deployments sharing an OpenAI organisation
   * never touch each other's labelled objects.
   */
  deploymentId: string | undefined;
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
    /**
     * The chunker that cuts long sections (src/chunk/chunker.ts `ChunkerVersion`;
     * docs/design.md, "Content-defined chunking"). Stored on each document: a
     * document chunked by another version is re-chunked on its next crawl.
     */
    version: ChunkerVersion;
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
     * Host names the SSRF guard allows whatever they resolve to
     * (`CRAWL_ALLOW_HOSTS`), lowercase; the CLI adds the hosts of the URLs
     * its operator names. Never read from a job payload.
     */
    allowHosts: string[];
    /** Addresses and networks the SSRF guard allows (`CRAWL_ALLOW_HOSTS` IPs and CIDRs). */
    allowNetworks: AllowedNetwork[];
    /**
     * DNS servers crawl host names are resolved with (`CRAWL_DNS_SERVERS`,
     * `ip` or `ip:port`); empty = the system resolver (getaddrinfo).
     */
    dnsServers: string[];
    /**
     * Longest a worker thread may extract, chunk and hash one document, ms
     * (docs/design.md, "CPU limit per document"): over it the thread is
     * stopped and the document fails with DocumentCpuLimitError. A 5 MB page
     * of prose takes ~2 s on one core; the default leaves room for a loaded
     * machine.
     */
    documentCpuLimitMs: number;
    /**
     * Sitemaps (docs/design.md, "Sitemaps"): read from robots.txt `Sitemap:`
     * lines or `/sitemap.xml` by the crawl job of each start URL, to find pages
     * and to skip fetching those whose `<lastmod>` is not newer than their last
     * fetch. A sitemap's bytes are limited by `maxBytes` after decompression.
     */
    sitemaps: {
      enabled: boolean;
      /** Most pages read from one start URL's sitemaps (sitemaps.org allows 50,000 per file). */
      maxUrls: number;
      /** Most sitemap files read per start URL, indexes included. */
      maxFiles: number;
      /** Longest the sitemap pass of one start URL may read sitemaps, ms; the rest are crawled by their links. */
      deadlineMs: number;
    };
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
    /**
     * How long a worker process started while Redis or Postgres does not
     * answer keeps trying before it exits 2, ms (`STARTUP_WAIT_MS`, default
     * 15 min; 0 tries once). Meanwhile `/healthz` is 200 and `/readyz` 503.
     */
    startupWaitMs: number;
    /**
     * BullMQ lock of an active job, ms (`JOB_LOCK_MS`): renewed at half of it
     * while the process runs; a process stopped longer (SIGSTOP, a frozen VM)
     * loses the job to a redelivery, and its own delivery aborts.
     */
    lockMs: number;
    /**
     * Deliveries of a job whose process died under it (SIGKILL, OOM) or
     * stopped past its lock (`JOB_MAX_STALLS`, BullMQ's `maxStalledCount`):
     * one more and the job fails for good with "job stalled more than
     * allowable limit", recorded in its run. A job waiting for budget in a
     * killed process is not at fault, so the default (10) is generous; it
     * still stops a job that kills every process it runs in.
     */
    maxStalls: number;
  };
  /**
   * Deadline of one job attempt per queue, ms (`JOB_DEADLINES`, e.g.
   * `embed=15m,crawl=2m`): past it the job's waits abort and it fails with
   * what it was waiting for (docs/design.md, "Deadlines and leases").
   */
  jobDeadlinesMs: Record<QueueNameForDeadline, number>;
  sources: {
    /**
     * Directories local sources may come from (`SOURCE_ROOTS`), absolute;
     * empty = no local paths at all. The CLI defaults it to the current
     * directory. A file whose real path (symbolic links resolved) is outside
     * every root is refused with SourceRootError.
     */
    roots: string[];
    /**
     * Most files one directory source lists (`SOURCE_MAX_FILES`, default
     * 100,000); the run's page limit stops the listing earlier. The listing
     * streams and claims in batches, so a huge tree never sits in memory.
     */
    maxFiles: number;
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
  /**
   * How old a labelled object unknown to the registry, or a chunk with no
   * embedding, must be before the orphan sweep deletes it and reconcile
   * counts it as drift, hours (default 24): younger ones may still be in
   * flight (docs/design.md, "Labels, orphans and deadlines").
   */
  orphanGraceHours: number;
  reindex: {
    /**
     * The largest share of a run's scope deletion sync removes without
     * `allowMassDelete`, 0..1 (docs/design.md, "Deletion sync"): more looks
     * like an outage or a broken site, not like pages removed on purpose.
     */
    maxDeleteFraction: number;
  };
  /** Dependency outages (docs/design.md, "Dependency outages"). */
  dependencies: {
    /** Time between reachability probes of Redis and Postgres in worker processes, ms. */
    probeMs: number;
    /** Deadline of one probe, ms: a slower answer counts as down. */
    probeTimeoutMs: number;
    /**
     * How long a job interrupted by an outage waits in place for the
     * dependency, ms; past it the job goes back to the queue delayed, its
     * attempts untouched.
     */
    waitMs: number;
  };
  /**
   * `/readyz` turns red for a worker that neither fetched nor started a job
   * for this long while it had free slots, ms. Above BullMQ's longest block
   * (drainDelay 5 s, at most 10 s for delayed jobs) so an idle healthy worker
   * stays green.
   */
  readyFetchStallMs: number;
  metrics: {
    /** Port of /metrics, /healthz and /readyz for worker processes; undefined = off. */
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
  const jobDeadlinesMs = parseJobDeadlines(e.JOB_DEADLINES);
  const associateDeadlineMs = Math.min(ASSOCIATE_DEADLINE_MS, jobDeadlinesMs.associate);
  if (e.OPENAI_POLL_DEADLINE_MS > maxPollDeadlineMs(associateDeadlineMs)) {
    throw new ConfigError(
      `OPENAI_POLL_DEADLINE_MS=${e.OPENAI_POLL_DEADLINE_MS} is over ${maxPollDeadlineMs(associateDeadlineMs)}: two polls per file batch and a minute of other requests must fit in the associate's deadline of ${associateDeadlineMs} ms (its 10-minute store-creation claim, or JOB_DEADLINES associate= when shorter).`,
    );
  }
  if (e.OPENAI_TIMEOUT_MS > e.SHUTDOWN_TIMEOUT_MS && !e.ALLOW_OPENAI_TIMEOUT_OVER_SHUTDOWN) {
    throw new ConfigError(
      `OPENAI_TIMEOUT_MS=${e.OPENAI_TIMEOUT_MS} exceeds SHUTDOWN_TIMEOUT_MS=${e.SHUTDOWN_TIMEOUT_MS}: a drain could not wait ` +
        'for an API call already sent (and paid). Lower OPENAI_TIMEOUT_MS, raise SHUTDOWN_TIMEOUT_MS, or set ' +
        'ALLOW_OPENAI_TIMEOUT_OVER_SHUTDOWN=true to accept that such calls are cut off and their jobs retried.',
    );
  }
  const hasDatabase = e.DATABASE_URL !== undefined;
  if (!e.OPENAI_API_KEY && e.OPENAI_EMULATOR !== true && (hasDatabase || e.OPENAI_EMULATOR === false)) {
    throw new ConfigError(
      `OPENAI_API_KEY is not set${hasDatabase ? ' and DATABASE_URL is' : ''}: Sluice will not fill ${
        hasDatabase ? 'a production database' : 'the database'
      } with the emulator's fake vectors unasked. Set OPENAI_API_KEY, or set OPENAI_EMULATOR=true to use the OpenAI emulator on purpose.`,
    );
  }
  const emulator = e.OPENAI_EMULATOR ?? !e.OPENAI_API_KEY;
  if (!emulator && e.EMBEDDINGS_PROVIDER === 'emulator') {
    throw new ConfigError(
      'EMBEDDINGS_PROVIDER=emulator names the emulator but OPENAI_EMULATOR is not true: set OPENAI_EMULATOR=true to use it, or name the real provider (default openai).',
    );
  }
  const allow = parseAllowHosts(e.CRAWL_ALLOW_HOSTS);
  const price = e.EMBEDDING_PRICE_USD_PER_MTOK ?? EMBEDDING_PRICES_USD_PER_MTOK[e.EMBEDDING_MODEL] ?? 0;
  return {
    logLevel: e.LOG_LEVEL,
    dataDir: path.resolve(e.DATA_DIR),
    redis: { url: e.REDIS_URL, prefix: e.QUEUE_PREFIX, commandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS },
    db: {
      url: e.DATABASE_URL,
      schema: e.DATABASE_SCHEMA,
      poolMax: e.DATABASE_POOL_MAX,
      writePoolMax: e.DATABASE_WRITE_POOL_MAX,
      pgliteport: e.PGLITE_PORT,
      connectTimeoutMs: e.DATABASE_CONNECT_TIMEOUT_MS,
      statementTimeoutMs: e.DATABASE_STATEMENT_TIMEOUT_MS,
      idleTimeoutMs: e.DATABASE_IDLE_TIMEOUT_MS,
      keepAliveDelayMs: e.DATABASE_KEEPALIVE_DELAY_MS,
    },
    openai: {
      emulator,
      provider: emulator ? 'emulator' : e.EMBEDDINGS_PROVIDER,
      apiKey: e.OPENAI_API_KEY,
      baseURL: e.OPENAI_BASE_URL,
      timeoutMs: e.OPENAI_TIMEOUT_MS,
      maxRetries: e.OPENAI_MAX_RETRIES,
      uploadRpm: e.OPENAI_UPLOAD_RPM,
      pollDeadlineMs: e.OPENAI_POLL_DEADLINE_MS,
    },
    deploymentId: e.DEPLOYMENT_ID,
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
    chunk: {
      maxTokens: e.CHUNK_MAX_TOKENS,
      overlapTokens: e.CHUNK_OVERLAP_TOKENS,
      version: e.CHUNKER_VERSION as ChunkerVersion,
    },
    crawl: {
      maxPages: e.CRAWL_MAX_PAGES,
      maxDepth: e.CRAWL_MAX_DEPTH,
      maxBytes: e.CRAWL_MAX_BYTES,
      timeoutMs: e.CRAWL_TIMEOUT_MS,
      maxRedirects: e.CRAWL_MAX_REDIRECTS,
      userAgent: e.CRAWL_USER_AGENT,
      allowPrivateNetworks: e.CRAWL_ALLOW_PRIVATE_NETWORKS,
      allowHosts: allow.hosts,
      allowNetworks: allow.networks,
      dnsServers: parseDnsServers(e.CRAWL_DNS_SERVERS),
      documentCpuLimitMs: e.DOCUMENT_CPU_LIMIT_MS,
      sitemaps: {
        enabled: e.CRAWL_SITEMAPS,
        maxUrls: e.SITEMAP_MAX_URLS,
        maxFiles: e.SITEMAP_MAX_FILES,
        deadlineMs: e.SITEMAP_DEADLINE_MS,
      },
    },
    workers: {
      crawlConcurrency: e.CRAWL_CONCURRENCY,
      embedConcurrency: e.EMBED_CONCURRENCY,
      uploadConcurrency: e.UPLOAD_CONCURRENCY,
      scheduleConcurrency: e.SCHEDULE_CONCURRENCY,
      shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
      startupWaitMs: e.STARTUP_WAIT_MS,
      lockMs: e.JOB_LOCK_MS,
      maxStalls: e.JOB_MAX_STALLS,
    },
    jobDeadlinesMs,
    jobs: {
      attempts: e.JOB_ATTEMPTS,
      backoffMs: e.JOB_BACKOFF_MS,
      keepCompleted: { age: e.KEEP_COMPLETED_SECONDS, count: e.KEEP_COMPLETED_COUNT },
      keepFailed: { age: e.KEEP_FAILED_SECONDS, count: e.KEEP_FAILED_COUNT },
    },
    sources: { roots: parseSourceRoots(e.SOURCE_ROOTS), maxFiles: e.SOURCE_MAX_FILES },
    schedulesFile: e.SCHEDULES_FILE === undefined ? undefined : path.resolve(e.SCHEDULES_FILE),
    ttlDays: e.TTL_DAYS,
    cleanupCron: e.CLEANUP_CRON,
    orphanGraceHours: e.ORPHAN_GRACE_HOURS,
    reindex: { maxDeleteFraction: e.REINDEX_MAX_DELETE_FRACTION },
    dependencies: {
      probeMs: e.DEPENDENCY_PROBE_MS,
      probeTimeoutMs: e.DEPENDENCY_PROBE_TIMEOUT_MS,
      waitMs: e.DEPENDENCY_WAIT_MS,
    },
    readyFetchStallMs: e.READY_FETCH_STALL_MS,
    metrics: { port: e.METRICS_PORT, host: e.METRICS_HOST },
  };
}
