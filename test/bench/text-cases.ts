/**
 * The pathological inputs of `npm run bench:text` and what each is run
 * through, before (test/bench/legacy/, the code of commit c7da808) and after
 * issue 18. Shared by the bench and its "before" thread.
 */
import { clearMergeCache } from 'gpt-tokenizer/encoding/cl100k_base';
import type { ExtractedDocument } from '../../src/extract/types.ts';

export type Stage = 'html' | 'markdown' | 'hash' | 'chunk';

export interface TextCase {
  name: string;
  stage: Stage;
  /** The input of about `n` characters. */
  make(n: number): string;
}

const repeatTo = (unit: string, n: number): string => unit.repeat(Math.ceil(n / unit.length)).slice(0, n);

export const CASES: TextCase[] = [
  { name: 'HTML <pre>a + spaces + x', stage: 'html', make: (n) => `<pre>a${' '.repeat(n)}x</pre>` },
  { name: 'HTML runs of <', stage: 'html', make: (n) => `<p>${repeatTo('<', n)}</p>` },
  { name: 'Markdown # a + spaces + x', stage: 'markdown', make: (n) => `# a${' '.repeat(n)}x` },
  { name: 'Markdown a + tabs + x', stage: 'markdown', make: (n) => `a${'\t'.repeat(n)}x` },
  { name: 'Markdown run of #', stage: 'markdown', make: (n) => `${repeatTo('#', n)} x` },
  { name: 'Markdown table row of |', stage: 'markdown', make: (n) => `| a | b |\n|---|---|\n${repeatTo('|', n)}` },
  { name: 'Markdown backtick runs', stage: 'markdown', make: (n) => repeatTo('` `` ``` a ', n) },
  { name: 'Markdown runs of <a ', stage: 'markdown', make: (n) => repeatTo('<a ', n) },
  { name: 'Markdown nested [[[…]]]', stage: 'markdown', make: (n) => `${repeatTo('[', n / 2)}${repeatTo(']', n / 2)}` },
  { name: 'Markdown [a]( open links', stage: 'markdown', make: (n) => repeatTo('[a](', n) },
  { name: 'Markdown *a **a emphasis', stage: 'markdown', make: (n) => repeatTo('*a **a ', n) },
  { name: 'Markdown ## A {#id + <a id', stage: 'markdown', make: (n) => `## A ${repeatTo('{#a <a id="x" ', n)}` },
  { name: 'hash a + spaces + x', stage: 'hash', make: (n) => `a${' '.repeat(n)}x` },
  { name: 'hash a + tabs + x, lines', stage: 'hash', make: (n) => repeatTo(`a${'\t'.repeat(999)}x\n`, n) },
  { name: 'chunk a + spaces + x', stage: 'chunk', make: (n) => `a${' '.repeat(n)}x` },
  { name: 'chunk one long word', stage: 'chunk', make: (n) => repeatTo('abcdefghij', n) },
  { name: 'chunk one line of words', stage: 'chunk', make: (n) => repeatTo('word ', n) },
];

export const CHUNK_OPTIONS = { maxTokens: 512, overlapTokens: 64 };

/** One section holding the whole text, for the chunk cases. */
export function sectionDoc(text: string): ExtractedDocument {
  return { title: 't', links: [], sections: [{ headingPath: [], anchor: null, text }] };
}

export interface Implementation {
  html(text: string): unknown;
  markdown(text: string): unknown;
  hash(text: string): unknown;
  chunk(text: string): unknown;
}

/**
 * Milliseconds one call of `stage` takes on `input` with `impl`. The
 * tokenizer's cache of merged pieces is emptied first: a repeated run would
 * otherwise time a cache hit.
 */
export function timeOnce(impl: Implementation, stage: Stage, input: string): number {
  clearMergeCache();
  const started = performance.now();
  impl[stage](input);
  return performance.now() - started;
}
