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
 * its thread), and the document fails with {@link DocumentCpuLimitError}.
 *
 * Threads: none until the first document, then `maxThreads`, kept until the
 * pool closes. Piscina replaces a thread it terminated only up to its
 * `minThreads`, and hands queued documents only to live threads: with
 * `minThreads` 0, documents queued behind a stopped one would wait until the
 * next document arrives, possibly forever. So `minThreads` is `maxThreads`,
 * and the pool is created on first use, so a process that never crawls
 * starts no thread.
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
   * Threads at most (Default: {@link defaultTextThreads}). Documents beyond
   * them wait in the pool's queue, uncharged.
   */
  maxThreads?: number;
  /**
   * The thread's entry module, a file URL (Default: ./worker.ts). Tests
   * substitute one that works slowly on purpose.
   * @internal
   */
  workerUrl?: string;
}

/**
 * The default thread cap: the CPU count (more threads only share the cores),
 * at most 4 (each thread loads its own HTML parser and tokenizer tables).
 */
export function defaultTextThreads(): number {
  return Math.max(1, Math.min(availableParallelism(), 4));
}

export class TextPool {
  #pool: Piscina<PoolTask, ProcessedDocument> | undefined;
  readonly #cpuLimitMs: number;
  readonly #maxThreads: number;
  readonly #workerUrl: string;
  #closed = false;

  constructor(options: TextPoolOptions) {
    if (!Number.isInteger(options.cpuLimitMs) || options.cpuLimitMs < 1) {
      throw new RangeError(`TextPool: cpuLimitMs must be an integer ≥ 1, got ${options.cpuLimitMs}`);
    }
    if (options.maxThreads !== undefined && (!Number.isInteger(options.maxThreads) || options.maxThreads < 1)) {
      throw new RangeError(`TextPool: maxThreads must be an integer ≥ 1, got ${options.maxThreads}`);
    }
    this.#cpuLimitMs = options.cpuLimitMs;
    this.#maxThreads = options.maxThreads ?? defaultTextThreads();
    this.#workerUrl = options.workerUrl ?? new URL('./worker.ts', import.meta.url).href;
  }

  #piscina(): Piscina<PoolTask, ProcessedDocument> {
    this.#pool ??= new Piscina({
      filename: this.#workerUrl,
      minThreads: this.#maxThreads,
      maxThreads: this.#maxThreads,
    });
    return this.#pool;
  }

  /** The limit per document, ms. */
  get cpuLimitMs(): number {
    return this.#cpuLimitMs;
  }

  /** Threads running now (for tests that check none is left behind). */
  get threadCount(): number {
    return this.#pool?.threads.length ?? 0;
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
      return await this.#piscina().run({ document, started: port2 }, { transferList: [port2], signal: abort.signal });
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
    await this.#pool?.destroy();
  }
}
