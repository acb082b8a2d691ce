/**
 * What every processor gets: configuration, logger, database, producer (to
 * fan out), run tracker and the OpenAI client. Built once per process by
 * ./runtime.ts. It sits here, below jobs/, so processors depend on
 * src/ and never the other way round.
 */
import type { Clock } from '../clock/clock.ts';
import type { Config } from '../config/config.ts';
import type { Db } from '../db/db.ts';
import type { Logger } from '../log/logger.ts';
import type { HashClaims } from '../embed/claims.ts';
import type { EmbeddingCoalescer } from '../embed/coalescer.ts';
import type { Embedder } from '../embed/embedder.ts';
import type { OpenAI } from '../openai/client.ts';
import type { SharedBudget } from '../ratelimit/budget.ts';
import type { Producer } from '../queue/producer.ts';
import type { RunTracker } from '../runs/tracker.ts';
import type { TextPool } from '../textpool/pool.ts';

export interface JobContext {
  config: Config;
  logger: Logger;
  db: Db;
  producer: Producer;
  tracker: RunTracker;
  openai: OpenAI;
  /** Where embeddings are computed: `openai` (or the base URL) or `emulator (<url>)`. */
  openaiTarget: string;
  /** Embeddings under the shared RPM/TPM budget with Sluice's retry policy. */
  embedder: Embedder;
  /** The embedder behind per-process request coalescing: what embed jobs call. */
  coalescer: EmbeddingCoalescer;
  /** Per-hash claims so racing jobs embed a chunk hash once. */
  claims: HashClaims;
  /** File uploads per minute, shared by every process (docs/openai-facts.md, "Files": 1,000/min per user). */
  uploadBudget: SharedBudget;
  /** The clock TTL decisions read (src/clock/clock.ts); tests move it. */
  clock: Clock;
  /**
   * Aborts when this job attempt must stop waiting: its deadline passed, its
   * delivery lost its lock, or the process drains (a JobAbortedError
   * subclass as reason). Undefined outside a worker. Pass it to every wait
   * (src/runtime/deadline.ts `waitFor`).
   */
  signal?: AbortSignal;
  /**
   * Like `signal` but never aborted by a drain: for a request already sent
   * and the bookkeeping of its paid response, which a drain lets finish.
   */
  paidSignal?: AbortSignal;
  /**
   * This delivery of the job: job id and BullMQ lock token. Owner of the
   * claims it takes, so a redelivery of a stalled job never shares them.
   */
  delivery?: string;
  /**
   * Runs bookkeeping that follows a paid API response: retried on its own
   * through Redis or Postgres outages (never by repeating the request),
   * until `paidSignal` aborts. Outside a worker it just runs `fn`.
   */
  afterPaid?: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Worker threads that extract, chunk and hash documents under the CPU limit per document (src/textpool/pool.ts). */
  textPool: TextPool;
}

/**
 * What starting, waiting for and summarising a run needs: a {@link JobContext}
 * (a schedule tick starts runs from inside a processor) or a whole Runtime
 * (the CLI and the TypeScript API) both fit.
 */
export type RunDeps = Pick<JobContext, 'config' | 'logger' | 'db' | 'producer' | 'tracker' | 'openaiTarget'>;
