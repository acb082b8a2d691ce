/**
 * Builds everything a Sluice process needs, once: Redis connections,
 * queues, the database (migrated), the run tracker, the producer and the
 * OpenAI client — or, when config says the emulator (OPENAI_EMULATOR=true,
 * or the embedded default with no DATABASE_URL and no key), the one at
 * OPENAI_BASE_URL or the built-in emulator on a loopback port (shared by the
 * processes of one DATA_DIR, its state kept there), announced in the log.
 * The database's recorded embeddings provider must match this process's
 * (src/store/provider.ts).
 */
import { OffsetClock } from '../clock/clock.ts';
import type { Config } from '../config/config.ts';
import type { JobContext } from './job-context.ts';
import { connectDb, type Db } from '../db/db.ts';
import { migrate } from '../db/migrate.ts';
import type { Logger } from '../log/logger.ts';
import { createOpenAI, type OpenAI } from '../openai/client.ts';
import { type EmbeddedEmulator, openEmbeddedEmulator, type RunningEmulator } from '../openai/emulator.ts';
import { EmbeddingCoalescer } from '../embed/coalescer.ts';
import { Embedder } from '../embed/embedder.ts';
import { requestTokenLimit } from '../embed/packing.ts';
import { HashClaims } from '../embed/claims.ts';
import { SharedBudget } from '../ratelimit/budget.ts';
import { Producer } from '../queue/producer.ts';
import { closeQueues, createQueues, type Queues } from '../queue/queues.ts';
import { checkRedis, createRedis, type Redis } from '../queue/redis.ts';
import { RunTracker } from '../runs/tracker.ts';
import { allocateSpendIds, recordSpendIntents } from '../store/embeddings.ts';
import { checkEmbeddingsProvider } from '../store/provider.ts';
import { defaultTextThreads, TextPool } from '../textpool/pool.ts';

/**
 * Added to the rate-limit window, ms: reservations are re-stamped when the
 * response arrives, so this only covers clock skew between Redis and the API.
 */
const WINDOW_MARGIN_MS = 100;

export interface Runtime {
  config: Config;
  logger: Logger;
  /**
   * Connection for queues, producer, run tracking, budget and claims: role
   * `worker` (reconnects forever) when the runtime was opened to run
   * workers, else `producer` (fails fast).
   */
  redis: Redis;
  db: Db;
  queues: Queues;
  tracker: RunTracker;
  producer: Producer;
  openai: OpenAI;
  /** Where embeddings go: `openai` or `emulator (<url>)`. */
  openaiTarget: string;
  /** The built-in emulator when this process serves it (another process of DATA_DIR may serve it instead). */
  emulator?: RunningEmulator;
  /** The clock TTL decisions read (the context's); tests move it with `advance`. */
  clock: OffsetClock;
  context: JobContext;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  /** Process role, for application_name and logs. */
  role: string;
  /** Skip the database (commands that only touch queues). */
  database?: boolean;
  /**
   * This process runs workers (`sluice worker`, and `ingest`/`sync`, which
   * run them in the CLI process): its Redis connection then waits through
   * outages instead of failing fast (src/queue/redis.ts). Default false.
   */
  workers?: boolean;
}

async function openOpenAI(
  config: Config,
  logger: Logger,
): Promise<{ openai: OpenAI; target: string; embedded?: EmbeddedEmulator }> {
  if (!config.openai.emulator || config.openai.baseURL) {
    const target = config.openai.baseURL ?? 'https://api.openai.com/v1';
    return {
      openai: createOpenAI(config, undefined),
      target: config.openai.emulator ? `emulator (${target})` : target,
    };
  }
  // Only here is the emulator loaded: with a key or base URL no emulator module is resolved.
  // Shared by the processes of one DATA_DIR, its state kept there (docs/design.md, "Embedded defaults and production parts").
  const embedded = await openEmbeddedEmulator(config.dataDir, logger);
  const url = embedded.url();
  logger.info(
    { url },
    config.openai.apiKey
      ? 'OPENAI_EMULATOR=true: using the built-in OpenAI emulator on loopback'
      : 'OPENAI_API_KEY is not set: using the built-in OpenAI emulator on loopback',
  );
  return { openai: createOpenAI(config, url, embedded.fetch), target: `emulator (${url})`, embedded };
}

/**
 * Opens the runtime.
 * @throws RedisUnavailableError, DatabaseUnavailableError, UnsupportedDatabaseError with a fix in the message.
 */
export async function openRuntime(config: Config, logger: Logger, options: RuntimeOptions): Promise<Runtime> {
  const redis = createRedis(config, options.workers ? 'worker' : 'producer');
  redis.on('error', () => {}); // reported by checkRedis and by failing commands
  const cleanups: Array<() => Promise<unknown>> = [() => redis.quit().catch(() => redis.disconnect())];
  const closeAll = async () => {
    for (const fn of cleanups.reverse()) await fn().catch((err: unknown) => logger.warn({ err }, 'close failed'));
  };
  try {
    await checkRedis(redis, config.redis.url);
    const db = await connectDb(config, logger, options.role, (db) => migrate(db, logger, config.embedding.dimensions));
    cleanups.push(() => db.close());
    const provider = await checkEmbeddingsProvider(
      db.pool,
      config.openai.provider,
      `The database ${db.displayUrl} (schema ${db.schema})`,
    );
    if (provider.wrote)
      logger.info({ provider: provider.recorded }, 'recorded the embeddings provider of this database');
    const { openai, target, embedded } = await openOpenAI(config, logger);
    if (embedded) cleanups.push(() => embedded.close());
    const emulator = embedded?.running();
    const queues = createQueues(config, redis);
    cleanups.push(() => closeQueues(queues));
    const tracker = new RunTracker(redis, config.redis.prefix);
    const producer = new Producer(queues, tracker, { connection: redis, prefix: config.redis.prefix });
    const { embedding } = config;
    // Margin on the window: a reservation is stamped when reserved, OpenAI counts on arrival.
    const budget = new SharedBudget(redis, config.redis.prefix, embedding.model, {
      rpm: embedding.rpm,
      tpm: embedding.tpm,
      windowMs: embedding.rateWindowMs + WINDOW_MARGIN_MS,
    });
    const embedder = new Embedder(openai, { budget, retries: embedding.retries });
    const coalescer = new EmbeddingCoalescer(embedder, {
      maxInputs: embedding.maxInputs,
      maxTokens: requestTokenLimit(embedding),
      lingerMs: embedding.coalesceMs,
      ledger: {
        allocate: (n) => allocateSpendIds(db.pool, n),
        write: (rows) => recordSpendIntents(db.pool, rows),
      },
    });
    const claims = new HashClaims(redis, config.redis.prefix, embedding.claimTtlMs);
    const uploadBudget = new SharedBudget(redis, config.redis.prefix, 'file-uploads', {
      rpm: config.openai.uploadRpm,
      tpm: config.openai.uploadRpm,
      windowMs: 60_000 + WINDOW_MARGIN_MS,
    });
    const clock = new OffsetClock();
    // Starts no thread until a crawl job needs one; closed with the runtime, after the workers.
    const textPool = new TextPool({
      cpuLimitMs: config.crawl.documentCpuLimitMs,
      maxThreads: Math.min(config.workers.crawlConcurrency, defaultTextThreads()),
    });
    cleanups.push(() => textPool.close());
    const context: JobContext = {
      clock,
      config,
      logger,
      db,
      producer,
      tracker,
      openai,
      embedder,
      coalescer,
      claims,
      uploadBudget,
      openaiTarget: target,
      textPool,
    };
    return {
      config,
      logger,
      redis,
      db,
      queues,
      tracker,
      producer,
      openai,
      openaiTarget: target,
      clock,
      context,
      ...(emulator ? { emulator } : {}),
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
