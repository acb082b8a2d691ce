import { afterEach, describe, expect, it } from 'vitest';
import { DocumentCpuLimitError, isPermanent } from '../../src/errors/index.ts';
import { TextPool } from '../../src/textpool/pool.ts';
import { type DocumentTask, processDocument } from '../../src/textpool/task.ts';
import { SPIN_MARKER } from '../helpers/slow-text-worker.ts';

const SLOW_WORKER = new URL('../helpers/slow-text-worker.ts', import.meta.url).href;
const CHUNK = { maxTokens: 64, overlapTokens: 8 };
const doc = (kind: DocumentTask['kind'], text: string, uri = `https://example.com/${kind}`): DocumentTask => ({
  kind,
  text,
  uri,
  chunk: CHUNK,
});
const spinning = (uri = 'https://example.com/pathological') => doc('text', `a page ${SPIN_MARKER}`, uri);

const pools: TextPool[] = [];
function pool(opts: ConstructorParameters<typeof TextPool>[0]): TextPool {
  const p = new TextPool(opts);
  pools.push(p);
  return p;
}
afterEach(async () => {
  for (const p of pools.splice(0)) {
    await p.close();
    // No thread outlives its pool.
    expect(p.threadCount).toBe(0);
  }
});

describe('TextPool', () => {
  it('gives what processDocument gives in this thread, for every kind', async () => {
    const p = pool({ cpuLimitMs: 60_000 });
    const tasks = [
      doc('html', '<title>T</title><h1 id="top">Top</h1><p>Caf&eacute; &mdash; <a href="/next">next</a></p>'),
      doc('markdown', '# Title {#t}\n\nSome *text* &copy; with a [link](https://example.org/x).'),
      { ...doc('text', 'plain words\n\nand more'), title: 'Given', fallbackTitle: 'id-1' },
    ];
    for (const task of tasks) expect(await p.process(task)).toEqual(processDocument(task));
  });

  it('starts no thread before the first document', () => {
    expect(pool({ cpuLimitMs: 1000 }).threadCount).toBe(0);
  });

  it('stops a document over the limit with DocumentCpuLimitError, a permanent error naming the URI and the fix', async () => {
    const p = pool({ cpuLimitMs: 200, workerUrl: SLOW_WORKER });
    const err = await p.process(spinning()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DocumentCpuLimitError);
    expect(isPermanent(err)).toBe(true);
    expect((err as Error).message).toMatch(/^https:\/\/example\.com\/pathological: .*CPU limit of 200 ms/);
    expect((err as Error).message).toContain('DOCUMENT_CPU_LIMIT_MS');
    // The stopped thread is replaced: the next document is processed.
    expect((await p.process(doc('text', 'fine'))).chunks.map((c) => c.text)).toEqual(['fine']);
  });

  it('processes other documents while one keeps its thread busy', async () => {
    const p = pool({ cpuLimitMs: 600_000, maxThreads: 2, workerUrl: SLOW_WORKER });
    let settled = false;
    const slow = p.process(spinning()).finally(() => {
      settled = true;
    });
    slow.catch(() => {});
    for (let i = 0; i < 5; i++) {
      expect((await p.process(doc('text', `document ${i}`))).chunks[0]!.text).toBe(`document ${i}`);
    }
    expect(settled).toBe(false);
    await p.close();
    // Closing ends the busy thread; its document fails, and not as over the limit.
    const err = await slow.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(DocumentCpuLimitError);
  });

  it('does not charge a document for the time it waited for a thread', async () => {
    // One thread: the second document waits while the first spins to the limit, then runs well within its own.
    const p = pool({ cpuLimitMs: 1000, maxThreads: 1, workerUrl: SLOW_WORKER });
    const first = p.process(spinning());
    const second = p.process(doc('text', 'queued behind the slow one'));
    await expect(first).rejects.toBeInstanceOf(DocumentCpuLimitError);
    expect((await second).chunks[0]!.text).toBe('queued behind the slow one');
  });

  it('refuses work after close, and closes twice', async () => {
    const p = pool({ cpuLimitMs: 1000 });
    await p.process(doc('text', 'x'));
    await p.close();
    await p.close();
    await expect(p.process(doc('text', 'y'))).rejects.toThrow(/closed/);
  });

  it('refuses a limit that is not a positive integer', () => {
    expect(() => new TextPool({ cpuLimitMs: 0 })).toThrow(RangeError);
    expect(() => new TextPool({ cpuLimitMs: 10, maxThreads: 0 })).toThrow(RangeError);
  });
});
