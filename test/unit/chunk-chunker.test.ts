import { countTokens as gptCount } from 'gpt-tokenizer/encoding/cl100k_base';
import { describe, expect, it } from 'vitest';
import { chunkDocument, countTokens } from '../../src/chunk/index.ts';
import type { ChunkDraft } from '../../src/chunk/index.ts';
import type { ExtractedDocument, Section } from '../../src/extract/index.ts';
import { chunkHash } from '../../src/hash/index.ts';

const WORDS =
  'index table query planner vacuum tuple page buffer lock snapshot transaction column row heap btree gin gist brin hash operator'.split(
    ' ',
  );

/** Deterministic pseudo-random prose: numbered sentences, so every sentence is unique. */
function prose(seed: number, sentences: number): string {
  let x = seed;
  const next = (): number => (x = (x * 1103515245 + 12345) % 2147483648);
  const out: string[] = [];
  for (let i = 0; i < sentences; i++) {
    const len = 6 + (next() % 14);
    const words = Array.from({ length: len }, () => WORDS[next() % WORDS.length]!);
    out.push(`Sentence ${seed}.${i} says ${words.join(' ')}.`);
  }
  return out.join(' ');
}

function doc(sections: Array<Partial<Section> & { text: string }>): ExtractedDocument {
  return {
    title: 'T',
    links: [],
    sections: sections.map((s, i) => ({
      headingPath: s.headingPath ?? [`H${i}`],
      anchor: s.anchor ?? null,
      text: s.text,
    })),
  };
}

function checkInvariants(d: ExtractedDocument, chunks: ChunkDraft[], maxTokens: number): void {
  chunks.forEach((c, i) => {
    expect(c.ordinal).toBe(i);
    expect(c.text.trim()).not.toBe('');
    expect(c.tokenCount).toBe(gptCount(c.text, { disallowedSpecial: new Set() }));
    expect(c.tokenCount).toBeLessThanOrEqual(maxTokens);
    expect(c.chunkHash).toBe(chunkHash(c.text));
    // Section-bounded and faithful: a chunk is a verbatim slice of its own section.
    const section = d.sections.find(
      (s) => s.headingPath.join('/') === c.headingPath.join('/') && s.anchor === c.anchor,
    );
    expect(section, `section of chunk ${i}`).toBeDefined();
    expect(section!.text.includes(c.text)).toBe(true);
  });
}

/** Length in tokens of the longest suffix of `a` that is a prefix of `b`. */
function overlapTokens(a: string, b: string): number {
  for (let len = Math.min(a.length, b.length); len > 0; len--) {
    if (a.endsWith(b.slice(0, len))) return countTokens(b.slice(0, len));
  }
  return 0;
}

describe('chunkDocument', () => {
  const opts = { maxTokens: 120, overlapTokens: 24 };

  it('keeps a small section whole and unchanged', () => {
    const d = doc([{ text: 'One short paragraph.\n\nAnd another one.', headingPath: ['A', 'B'], anchor: 'b' }]);
    const chunks = chunkDocument(d, opts);
    expect(chunks).toEqual([
      {
        ordinal: 0,
        text: 'One short paragraph.\n\nAnd another one.',
        tokenCount: countTokens('One short paragraph.\n\nAnd another one.'),
        headingPath: ['A', 'B'],
        anchor: 'b',
        chunkHash: chunkHash('One short paragraph.\n\nAnd another one.'),
      },
    ]);
  });

  it('never spans sections; small sections stay separate; empty ones are dropped', () => {
    const d = doc([{ text: 'first' }, { text: '   \n\n ' }, { text: 'second' }, { text: '' }, { text: 'third' }]);
    const chunks = chunkDocument(d, opts);
    expect(chunks.map((c) => [c.text, c.headingPath[0]])).toEqual([
      ['first', 'H0'],
      ['second', 'H2'],
      ['third', 'H4'],
    ]);
  });

  it('packs whole paragraphs, bounded by maxTokens, with exact token counts', () => {
    const paragraphs = Array.from({ length: 30 }, (_, i) => prose(i + 1, 2));
    const d = doc([{ text: paragraphs.join('\n\n') }]);
    const chunks = chunkDocument(d, opts);
    expect(chunks.length).toBeGreaterThan(5);
    checkInvariants(d, chunks, opts.maxTokens);
    // Every paragraph appears whole in some chunk (none was big enough to need cutting).
    for (const p of paragraphs) expect(chunks.some((c) => c.text.includes(p))).toBe(true);
    // Chunks are reasonably full.
    const avg = chunks.reduce((n, c) => n + c.tokenCount, 0) / chunks.length;
    expect(avg).toBeGreaterThan(opts.maxTokens * 0.6);
  });

  it('consecutive chunks of a section overlap by about overlapTokens, in whole sentences/paragraphs', () => {
    // Every sentence is < 32 tokens, so the overlap can always be whole sentences.
    const opts = { maxTokens: 160, overlapTokens: 32 };
    const d = doc([{ text: Array.from({ length: 40 }, (_, i) => prose(i + 100, 2)).join('\n\n') }]);
    const chunks = chunkDocument(d, opts);
    checkInvariants(d, chunks, opts.maxTokens);
    for (let i = 1; i < chunks.length; i++) {
      const n = overlapTokens(chunks[i - 1]!.text, chunks[i]!.text);
      expect(n).toBeGreaterThan(0);
      expect(n).toBeLessThanOrEqual(opts.overlapTokens + 2);
      // The overlap starts at a sentence start.
      expect(chunks[i]!.text).toMatch(/^Sentence \d+\.\d+ /);
    }
    // Every sentence is covered.
    const all = chunks.map((c) => c.text).join('\n');
    for (let i = 0; i < 40; i++) expect(all).toContain(`Sentence ${i + 100}.1 `);
  });

  it('no overlap across sections', () => {
    const d = doc([{ text: prose(7, 30) }, { text: prose(8, 30) }]);
    const chunks = chunkDocument(d, opts);
    checkInvariants(d, chunks, opts.maxTokens);
    const firstOfSecond = chunks.findIndex((c) => c.headingPath[0] === 'H1');
    expect(chunks[firstOfSecond]!.text.startsWith('Sentence 8.0 ')).toBe(true);
  });

  it('cuts an oversize paragraph at sentences', () => {
    const para = prose(42, 60);
    const d = doc([{ text: para }]);
    const chunks = chunkDocument(d, opts);
    checkInvariants(d, chunks, opts.maxTokens);
    // Each chunk ends at a sentence end; it starts at a sentence start, or at a
    // word start when the overlap is the tail of a sentence too long to repeat whole.
    for (const c of chunks) {
      expect(c.text.endsWith('.')).toBe(true);
      const at = para.indexOf(c.text);
      expect(at === 0 || /\s/.test(para[at - 1]!)).toBe(true);
    }
    expect(chunks[0]!.text.startsWith('Sentence 42.0 ')).toBe(true);
  });

  it('cuts preformatted text at lines, keeping indentation', () => {
    const code = Array.from({ length: 200 }, (_, i) => `    SELECT col_${i}, count(*) FROM t_${i} GROUP BY 1;`).join(
      '\n',
    );
    const d = doc([{ text: code }]);
    const chunks = chunkDocument(d, opts);
    checkInvariants(d, chunks, opts.maxTokens);
    for (const c of chunks)
      for (const line of c.text.split('\n'))
        expect(line).toMatch(/^ {4}SELECT col_\d+, count\(\*\) FROM t_\d+ GROUP BY 1;$/);
  });

  it('cuts CJK text at full stops without spaces', () => {
    const cjk = Array.from({ length: 120 }, (_, i) => `第${i}句是关于索引和查询规划器的说明。`).join('');
    const d = doc([{ text: cjk }]);
    const chunks = chunkDocument(d, opts);
    checkInvariants(d, chunks, opts.maxTokens);
    for (const c of chunks) expect(c.text.endsWith('。')).toBe(true);
  });

  it('falls back to token boundaries for text without any break, never splitting a character', () => {
    const blob = 'ab'.repeat(3000);
    const emoji = '🙂é漢字'.repeat(800);
    const d = doc([{ text: blob }, { text: emoji }]);
    const chunks = chunkDocument(d, opts);
    checkInvariants(d, chunks, opts.maxTokens);
    for (const c of chunks) expect(c.text).not.toContain('\uFFFD');
    const second = chunks.filter((c) => c.headingPath[0] === 'H1');
    expect(second.length).toBeGreaterThan(3);
  });

  it('treats special-token strings as plain text', () => {
    const d = doc([{ text: 'The tokenizer marks the end with <|endoftext|> and <|fim_prefix|>.' }]);
    const [c] = chunkDocument(d, opts);
    expect(c!.text).toContain('<|endoftext|>');
    expect(c!.tokenCount).toBe(gptCount(c!.text, { disallowedSpecial: new Set() }));
  });

  it('is deterministic', () => {
    const d = doc([{ text: Array.from({ length: 25 }, (_, i) => prose(i, 3)).join('\n\n') }, { text: prose(99, 40) }]);
    expect(chunkDocument(d, opts)).toEqual(chunkDocument(structuredClone(d), opts));
  });

  it('works without overlap and with an overlap bigger than half a chunk', () => {
    const d = doc([{ text: Array.from({ length: 20 }, (_, i) => prose(i, 3)).join('\n\n') }]);
    const none = chunkDocument(d, { maxTokens: 100, overlapTokens: 0 });
    checkInvariants(d, none, 100);
    expect(overlapTokens(none[0]!.text, none[1]!.text)).toBe(0);
    const big = chunkDocument(d, { maxTokens: 100, overlapTokens: 90 });
    checkInvariants(d, big, 100);
  });

  it('rejects nonsense options', () => {
    expect(() => chunkDocument(doc([{ text: 'x' }]), { maxTokens: 0, overlapTokens: 0 })).toThrow(/maxTokens/);
    expect(() => chunkDocument(doc([{ text: 'x' }]), { maxTokens: 100, overlapTokens: -1 })).toThrow(/overlapTokens/);
  });
});
