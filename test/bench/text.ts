/**
 * `npm run bench:text`: how extraction, chunking and hashing time grows on
 * pathological input (docs/design.md, "Linear-time text"). For each case of
 * ./text-cases.ts it prints the time for 40,000, 320,000 and 4,000,000
 * characters after issue 18 (this tree, in this thread: the median of three
 * runs, one run at 4M) and before it (the code of commit c7da808, in a
 * thread stopped at BEFORE_CAP_MS), and the growth: time ratio for the 8×
 * step (40k → 320k) and the 12.5× step (320k → 4M). Linear growth is a
 * ratio near the input ratio; quadratic, its square (64× and 156×).
 *
 * Prints figures; asserts nothing. Usage:
 *   npm run bench:text [-- --only <substring>] [-- --no-before]
 */
import { Worker } from 'node:worker_threads';
import { chunkDocument } from '../../src/chunk/index.ts';
import { extractHtml, extractMarkdown } from '../../src/extract/index.ts';
import { normaliseText } from '../../src/hash/index.ts';
import { CASES, CHUNK_OPTIONS, type Implementation, sectionDoc, timeOnce } from './text-cases.ts';

const SIZES = [40_000, 320_000, 4_000_000] as const;
/** The "before" code takes hours on the larger inputs: its thread is stopped after this, ms. */
const BEFORE_CAP_MS = 10_000;

const args = process.argv.slice(2);
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
const withBefore = !args.includes('--no-before');

const current: Implementation = {
  html: (t) => extractHtml(t, 'https://example.com/'),
  markdown: (t) => extractMarkdown(t, 'https://example.com/a.md'),
  hash: (t) => normaliseText(t),
  chunk: (t) => chunkDocument(sectionDoc(t), CHUNK_OPTIONS),
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** One case at one size with the old code, in its own thread; undefined when it hit the cap. */
function before(index: number, n: number): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./text-before.ts', import.meta.url), { workerData: { index, n } });
    const timer = setTimeout(() => {
      void worker.terminate();
      resolve(undefined);
    }, BEFORE_CAP_MS);
    worker.once('message', (ms: number) => {
      clearTimeout(timer);
      void worker.terminate();
      resolve(ms);
    });
    worker.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

const fmt = (ms: number | undefined): string =>
  ms === undefined
    ? `>${BEFORE_CAP_MS / 1000} s`.padStart(9)
    : ms < 10
      ? `${ms.toFixed(1)} ms`.padStart(9)
      : `${Math.round(ms)} ms`.padStart(9);
const ratio = (a: number | undefined, b: number | undefined): string =>
  a === undefined || b === undefined ? '     —' : `${(b / Math.max(a, 0.05)).toFixed(1)}×`.padStart(6);

console.log(
  `${'case'.padEnd(30)} ${'after: 40k'.padStart(10)} ${'320k'.padStart(9)} ${'4M'.padStart(9)} ${'8×→'.padStart(6)} ${'12.5×→'.padStart(7)}` +
    (withBefore ? `   ${'before: 40k'.padStart(11)} ${'320k'.padStart(9)} ${'8×→'.padStart(6)}` : ''),
);
for (const [index, c] of CASES.entries()) {
  if (only && !c.name.includes(only)) continue;
  // Warm the code paths up on a small input first, so the 40k figure is not the JIT's.
  current[c.stage](c.make(4_000));
  const after: number[] = [];
  for (const n of SIZES) {
    const input = c.make(n);
    const runs = n >= 4_000_000 ? 1 : 3;
    after.push(median(Array.from({ length: runs }, () => timeOnce(current, c.stage, input))));
  }
  let line =
    `${c.name.padEnd(30)} ${fmt(after[0]).padStart(10)} ${fmt(after[1])} ${fmt(after[2])} ` +
    `${ratio(after[0], after[1])} ${ratio(after[1], after[2]).padStart(7)}`;
  if (withBefore) {
    const b40 = await before(index, SIZES[0]);
    const b320 = b40 === undefined ? undefined : await before(index, SIZES[1]);
    line += `   ${fmt(b40).padStart(11)} ${fmt(b320)} ${ratio(b40, b320)}`;
  }
  console.log(line);
}
console.log(
  `\nafter: this tree, median of 3 runs (1 at 4M), after a warm-up; before: commit c7da808's code in a worker thread, ` +
    `stopped at ${BEFORE_CAP_MS / 1000} s (4M not run: hours). Linear: 8×→ ≈ 8, 12.5×→ ≈ 12.5; quadratic: 64 and 156.`,
);
