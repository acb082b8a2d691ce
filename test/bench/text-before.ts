/**
 * The "before" column of `npm run bench:text`: one case timed with the code
 * of commit c7da808 (test/bench/legacy/), in a worker thread that the bench
 * terminates at its cap, since the worst of these take hours.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { chunkDocument } from './legacy/chunker.ts';
import { normaliseText } from './legacy/hash.ts';
import { extractHtml } from './legacy/html.ts';
import { extractMarkdown } from './legacy/markdown.ts';
import { CASES, CHUNK_OPTIONS, type Implementation, sectionDoc, timeOnce } from './text-cases.ts';

const legacy: Implementation = {
  html: (t) => extractHtml(t, 'https://example.com/'),
  markdown: (t) => extractMarkdown(t, 'https://example.com/a.md'),
  hash: (t) => normaliseText(t),
  chunk: (t) => chunkDocument(sectionDoc(t), CHUNK_OPTIONS),
};

const { index, n } = workerData as { index: number; n: number };
const c = CASES[index]!;
const input = c.make(n);
parentPort!.postMessage(timeOnce(legacy, c.stage, input));
