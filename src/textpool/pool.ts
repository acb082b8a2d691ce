/**
 * The text pool: worker threads (piscina) that extract, chunk and hash
 * documents, so that a worker process's event loop only waits for them and
 * keeps renewing its job locks, chunk-hash claims and health answers
 * meanwhile; and the CPU limit per document, enforced by stopping the
 * thread (docs/design.md, "CPU limit per document").
 *
 * The limit counts from the moment a thread starts on the document (the
 * thread says so through a MessagePort), not from when it was queued: a
 * document waiting behind others is not charged for their time. A thread
 * that goes over it is terminated (piscina aborts a running task by ending
 * its thread and starts a fresh one for the next task), and the document
 * fails with {@link DocumentCpuLimitError}.
 */
import { availableParallelism } from 'node:os';
import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { DocumentCpuLimitError } from '../errors/index.ts';
import type { DocumentTask, ProcessedDocument } from './task.ts';
import type { PoolTask } from './worker.ts';

export interface TextPoolOptions {
  /** Longest a thread may work on one document, ms (`DOCUMENT_CPU_LIMIT_MS`). */
  cpuLimitMs: number;
  /**
   * Threads at most (Default: 4), never more than the CPU count: more
   * threads than cores only share the cores. Documents beyond them wait in
   * the pool's queue, uncharged.
   */
  maxThreads?: number;
  /** A thread idle this long exits, ms (Default: 60,000: a crawl keeps its threads, an idle process frees them). */
  idleTimeoutMs?: number;
  /**
   * The thread's entry module, a file URL (Default: ./worker.ts). Tests
   * substitute one that works slowly on purpose.
   * @internal
   */
  workerUrl?: string;
}

/** Default thread cap: each thread loads its own copy of the HTML parser and the tokenizer tables. */
const DEFAULT_MAX_THREADS = 4;

export class TextPool {
  readonly #pool: Piscina<PoolTask, ProcessedDocument>;
  readonly #cpuLimitMs: number;
  #closed = false;

  constructor(options: TextPoolOptions) {
    if (!Number.isInteger(options.cpuLimitMs) || options.cpuLimitMs < 1) {
      throw new RangeError(`TextPool: cpuLimitMs must be an integer ≥ 1, got ${options.cpuLimitMs}`);
    }
    this.#cpuLimitMs = options.cpuLimitMs;
    this.#pool = new Piscina({
      filename: options.workerUrl ?? new URL('./worker.ts', import.meta.url).href,
      // No thread until the first document: a process that never crawls never starts one.
      minThreads: 0,
      maxThreads: Math.max(1, Math.min(availableParallelism(), options.maxThreads ?? DEFAULT_MAX_THREADS)),
      idleTimeout: options.idleTimeoutMs ?? 60_000,
    });
  }

  /** The limit per document, ms. */
  get cpuLimitMs(): number {
    return this.#cpuLimitMs;
  }

  /** Threads running now (for tests that check none is left behind). */
  get threadCount(): number {
    return this.#pool.threads.length;
  }

  /**
   * Extracts, chunks and hashes one document in a pool thread.
   * @throws DocumentCpuLimitError when its thread works on it for longer than the limit (the thread is stopped)
   * @throws whatever extraction or chunking throws, and Error when the pool is closed
   */
  async process(document: DocumentTask): Promise<ProcessedDocument> {
    if (this.#closed) throw new Error('TextPool: the pool is closed');
    const { port1, port2 } = new MessageChannel();
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    let overLimit = false;
    port1.once('message', () => {
      timer = setTimeout(() => {
        overLimit = true;
        abort.abort();
      }, this.#cpuLimitMs);
      port1.close();
    });
    try {
      return await this.#pool.run({ document, started: port2 }, { transferList: [port2], signal: abort.signal });
    } catch (err) {
      if (overLimit) throw new DocumentCpuLimitError(document.uri, this.#cpuLimitMs);
      throw err;
    } finally {
      clearTimeout(timer);
      port1.close();
    }
  }

  /** Ends every thread; documents in flight fail. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.destroy();
  }
}
