/**
 * Property tests (fast-check) for extraction, chunking and hashing on
 * pathological input: long runs of spaces, tabs, `#`, `|`, backticks, `<`,
 * nested brackets and 1 MB lines (docs/design.md, "Linear-time text"). They
 * assert what comes out (no lost text, chunks within limits, stable hashes),
 * never how long it took: speed is `npm run bench:text`'s. Before the fix
 * the runs below took minutes to hours (quadratic), which a test sees as a
 * timeout.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chunkDocument, countTokens } from '../../src/chunk/index.ts';
import { heapBytePairMerge, libraryMerge } from '../../src/chunk/tokenizer.ts';
import { extractHtml, extractMarkdown, extractText } from '../../src/extract/index.ts';
import type { ExtractedDocument } from '../../src/extract/types.ts';
import { chunkHash, normaliseText } from '../../src/hash/index.ts';

/** The chunk hash's normalisation as it was defined by regexes (stored chunk hashes were made with it). */
function regexNormaliseText(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .normalize('NFC')
    .replace(/[^\S\n]+$/gm, '')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

const RUN_CHARS = [' ', '\t', '#', '|', '`', '<', '[', ']', '*', '_', '\n'] as const;
const word = fc.stringMatching(/^[a-z]{1,8}$/);
/** A run of one pathological character, up to `max` long. */
const run = (max: number) =>
  fc.tuple(fc.constantFrom(...RUN_CHARS), fc.integer({ min: 1, max })).map(([c, n]) => c.repeat(n));
/** Words separated by runs (a space on each side, so a run never glues onto a word). */
const pathological = (maxRun: number) =>
  fc.array(fc.tuple(word, run(maxRun)), { minLength: 1, maxLength: 12 }).map((parts) => ({
    words: parts.map(([w]) => w),
    text: parts.map(([w, r]) => `${w} ${r} `).join(''),
  }));

/** Every word of a document: title, heading paths and section texts. */
function wordsOf(doc: ExtractedDocument): Set<string> {
  const all = [doc.title, ...doc.sections.flatMap((s) => [...s.headingPath, s.text])].join(' ');
  return new Set(all.match(/[a-z]+/g) ?? []);
}

const CHUNK = { maxTokens: 64, overlapTokens: 8 };

/** Chunks are within limits, hashed as they read, and together cover the whole section text (overlaps allowed). */
function expectChunksCover(sectionText: string, opts = CHUNK): void {
  const drafts = chunkDocument(
    { title: 't', links: [], sections: [{ headingPath: [], anchor: null, text: sectionText }] },
    opts,
  );
  const squeeze = (s: string) => s.replace(/\s+/g, '');
  const whole = squeeze(sectionText);
  let covered = 0;
  for (const d of drafts) {
    expect(d.tokenCount).toBeLessThanOrEqual(opts.maxTokens);
    expect(d.tokenCount).toBe(countTokens(d.text));
    expect(d.chunkHash).toBe(chunkHash(d.text));
    const piece = squeeze(d.text);
    if (piece === '') continue;
    const at = whole.lastIndexOf(piece, covered);
    expect(at, `chunk ${d.ordinal} continues the text`).toBeGreaterThanOrEqual(0);
    expect(at).toBeLessThanOrEqual(covered);
    covered = Math.max(covered, at + piece.length);
  }
  expect(covered).toBe(whole.length);
}

describe('hashing', () => {
  it('normaliseText equals its regex definition, so stored chunk hashes stay valid', () => {
    const ch = fc.constantFrom(
      'a',
      'b',
      ' ',
      '\t',
      '\n',
      '\r',
      '\u2028',
      '\u2029',
      '\u00a0',
      '\u000b',
      '\ufeff',
      'e\u0301',
    );
    fc.assert(
      fc.property(fc.array(ch, { maxLength: 40 }), (chars) => {
        const s = chars.join('');
        expect(normaliseText(s)).toBe(regexNormaliseText(s));
      }),
      { numRuns: 2000 },
    );
  });

  it('is stable on long runs: line endings and trailing white space do not change a chunk hash', () => {
    fc.assert(
      fc.property(fc.constantFrom(' ', '\t', '\u00a0'), fc.integer({ min: 1, max: 400_000 }), (c, n) => {
        const text = `a${c.repeat(n)}x\nsecond line`;
        const h = chunkHash(text);
        expect(chunkHash(text.replace('\n', `${c.repeat(n)}\r\n`))).toBe(h);
        expect(normaliseText(`${text}${c.repeat(n)}`)).toBe(text.replace(/\r/g, ''));
      }),
      { numRuns: 8 },
    );
  });
});

describe('extraction', () => {
  it('Markdown: no word is lost among runs of spaces, tabs, #, |, backticks, <, brackets, emphasis', () => {
    fc.assert(
      fc.property(pathological(5000), ({ words, text }) => {
        const found = wordsOf(extractMarkdown(text, 'https://example.com/a.md'));
        for (const w of words) expect(found, w).toContain(w);
      }),
      { numRuns: 300 },
    );
  });

  it('Markdown: a heading made of a long run still yields its words, and entities are decoded', () => {
    for (const c of RUN_CHARS.filter((c) => c !== '\n')) {
      const doc = extractMarkdown(`# a${c.repeat(200_000)}x &mdash; &copy;\n\ntext`, 'https://example.com/a.md');
      expect([...wordsOf(doc)], JSON.stringify(c)).toEqual(expect.arrayContaining(['a', 'x', 'text']));
      expect(doc.sections.at(-1)!.text).toBe('text');
      expect(doc.title).toMatch(/— ©$/);
    }
  });

  it('HTML: <pre> keeps its text verbatim, however long its runs; other text keeps every word', () => {
    fc.assert(
      fc.property(pathological(20_000), ({ words, text }) => {
        const escaped = text.replace(/&/g, '&amp;').replace(/</g, '&lt;');
        const pre = extractHtml(`<h1>T</h1><pre>${escaped}</pre>`, 'https://example.com/');
        expect(pre.sections[0]!.text).toBe(text.trimEnd());
        const p = extractHtml(
          `<h1>T</h1><p>${escaped}</p><table><tr><td>${escaped}</td></tr></table>`,
          'https://example.com/',
        );
        const found = wordsOf(p);
        for (const w of words) expect(found, w).toContain(w);
      }),
      { numRuns: 100 },
    );
  });

  it('text: only the edges are trimmed', () => {
    fc.assert(
      fc.property(pathological(50_000), ({ text }) => {
        const doc = extractText(text, 'file:///x.txt');
        expect(doc.sections.map((s) => s.text)).toEqual([text.replace(/^(?:[^\S\n]*\n)+/, '').trimEnd()]);
      }),
      { numRuns: 100 },
    );
  });
});

describe('1 MB runs (the cases that took hours: quadratic in the run)', () => {
  const N = 1_000_000;
  it.each(RUN_CHARS.filter((c) => c !== '\n'))('%j: HTML <pre>, a Markdown heading, the chunk hash', (c) => {
    const runText = c.repeat(N);
    const html = extractHtml(
      `<h1>T</h1><pre>a${c === '<' ? '&lt;'.repeat(N) : runText}x</pre>`,
      'https://example.com/',
    );
    expect(html.sections[0]!.text).toBe(`a${runText}x`);
    const md = extractMarkdown(`# a${runText}x\n\ntext`, 'https://example.com/a.md');
    expect(md.sections.at(-1)!.text).toBe('text');
    expect(md.sections.at(-1)!.headingPath[0]).toMatch(/^a.*x$/);
    expect(normaliseText(`a${runText}x`)).toBe(`a${runText}x`);
    expect(normaliseText(`a${runText}x${runText}\n`)).toBe(`a${runText}x${c === ' ' || c === '\t' ? '' : runText}`);
  });
});

describe('chunking', () => {
  it('keeps every chunk within the token limit and loses no text, on runs of each kind', () => {
    fc.assert(
      fc.property(pathological(20_000), ({ text }) => expectChunksCover(text)),
      { numRuns: 60 },
    );
  });

  it('cuts 1 MB lines: a run of one character, one long word, words without a full stop', () => {
    for (const line of [
      'a'.repeat(1_000_000),
      ' '.repeat(999_999) + 'x',
      'abcdefghij'.repeat(100_000),
      'word '.repeat(200_000),
    ]) {
      expectChunksCover(line, { maxTokens: 512, overlapTokens: 64 });
    }
  });
});

describe('the tokenizer', () => {
  it('merges long pieces through the heap exactly as the library does', () => {
    const { merge, rankOf } = libraryMerge();
    const enc = new TextEncoder();
    const unit = fc.constantFrom(' ', 'a', 'e', 'th', 'ing', '#', '=', '-', '\t', 'é', '字', '🙂', '0', 'Z');
    fc.assert(
      fc.property(fc.array(unit, { minLength: 100, maxLength: 900 }), (units) => {
        const bytes = enc.encode(units.join(''));
        expect(heapBytePairMerge(bytes, rankOf)).toEqual(merge(bytes));
      }),
      { numRuns: 200 },
    );
  });

  it('merges one long run as the library does, and counts a 1 MB one', () => {
    const { merge, rankOf } = libraryMerge();
    for (const c of [' ', '#', '|', '`', '<', 'a']) {
      const bytes = new TextEncoder().encode(c.repeat(3000));
      expect(heapBytePairMerge(bytes, rankOf), c).toEqual(merge(bytes));
    }
    expect(countTokens(' '.repeat(1_000_000))).toBeGreaterThan(0);
  });
});
