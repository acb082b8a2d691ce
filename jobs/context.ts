/**
 * What every processor gets: configuration, logger, database, producer (to
 * fan out), run tracker and the OpenAI client. Built once per process by
 * src/runtime/runtime.ts.
 */
import type { Config } from '../src/config/config.ts';
import type { Db } from '../src/db/db.ts';
import type { Logger } from '../src/log/logger.ts';
import type { HashClaims } from '../src/embed/claims.ts';
import type { EmbeddingCoalescer } from '../src/embed/coalescer.ts';
import type { Embedder } from '../src/embed/embedder.ts';
import type { OpenAI } from '../src/openai/client.ts';
import type { SharedBudget } from '../src/ratelimit/budget.ts';
import type { Producer } from '../src/queue/producer.ts';
import type { RunTracker } from '../src/runs/tracker.ts';

export interface JobContext {
  config: Config;
  logger: Logger;
  db: Db;
  producer: Producer;
  tracker: RunTracker;
  openai: OpenAI;
  /** Embeddings under the shared RPM/TPM budget with Sluice's retry policy. */
  embedder: Embedder;
  /** The embedder behind per-process request coalescing: what embed jobs call. */
  coalescer: EmbeddingCoalescer;
  /** Per-hash claims so racing jobs embed a chunk hash once. */
  claims: HashClaims;
  /** File uploads per minute, shared by every process (FACTS.md: 1,000/min per user). */
  uploadBudget: SharedBudget;
}
