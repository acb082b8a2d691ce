/**
 * Extract + chunk every page of the PostgreSQL 15 HTML manual (Debian package
 * postgresql-doc-15): real input, no mocks.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'cheerio';
import { countTokens as gptCount } from 'gpt-tokenizer/encoding/cl100k_base';
import { describe, expect, it } from 'vitest';
import { chunkDocument } from '../../src/chunk/index.ts';
import type { ChunkDraft } from '../../src/chunk/index.ts';
import { extractHtml } from '../../src/extract/index.ts';
import { chunkHash } from '../../src/hash/index.ts';

const MANUAL = '/usr/share/doc/postgresql-doc-15/html';
const OPTS = { maxTokens: 512, overlapTokens: 64 };

function fragmentTargets(html: string): Set<string> {
  const $ = load(html);
  const ids = new Set<string>();
  $('[id]').each((_, el) => void ids.add($(el).attr('id')!));
  $('a[name]').each((_, el) => void ids.add($(el).attr('name')!));
  return ids;
}

describe('PostgreSQL 15 manual: extract + chunk every page', () => {
  it('is installed', () => {
    expect(
      existsSync(join(MANUAL, 'index.html')),
      `PostgreSQL manual not found at ${MANUAL}: install it: apt-get install -y postgresql-doc-15`,
    ).toBe(true);
  });

  it('every chunk is non-empty, <= 512 tokens (exact), and every anchor exists in its page', () => {
    expect(existsSync(MANUAL), `install it: apt-get install -y postgresql-doc-15`).toBe(true);
    const files = readdirSync(MANUAL)
      .filter((f) => f.endsWith('.html'))
      .sort();
    expect(files.length).toBeGreaterThan(1000);

    const started = performance.now();
    let extractMs = 0;
    let chunkMs = 0;
    let chunks = 0;
    let tokens = 0;
    let anchored = 0;
    const problems: string[] = [];
    const byFile = new Map<string, { html: string; chunks: ChunkDraft[] }>();

    for (const file of files) {
      const html = readFileSync(join(MANUAL, file), 'utf8');
      const t0 = performance.now();
      const doc = extractHtml(html, `https://www.postgresql.org/docs/15/${file}`);
      const t1 = performance.now();
      const drafts = chunkDocument(doc, OPTS);
      chunkMs += performance.now() - t1;
      extractMs += t1 - t0;
      byFile.set(file, { html, chunks: drafts });
      chunks += drafts.length;
      for (const c of drafts) {
        tokens += c.tokenCount;
        if (c.text.trim() === '') problems.push(`${file} #${c.ordinal}: empty chunk`);
        if (c.tokenCount > OPTS.maxTokens) problems.push(`${file} #${c.ordinal}: ${c.tokenCount} tokens`);
        if (c.anchor !== null) anchored++;
      }
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `PostgreSQL manual: ${files.length} pages, ${chunks} chunks, ${tokens} tokens, ` +
        `${anchored} chunks with an anchor, ${seconds.toFixed(1)} s (extract ${(extractMs / 1000).toFixed(1)} s, chunk ${(chunkMs / 1000).toFixed(1)} s)`,
    );

    // Verification outside the timed loop: exact counts, hashes, anchors.
    for (const [file, { html, chunks: drafts }] of byFile) {
      const targets = fragmentTargets(html);
      drafts.forEach((c, i) => {
        if (c.ordinal !== i) problems.push(`${file}: ordinal ${c.ordinal} at ${i}`);
        const exact = gptCount(c.text, { disallowedSpecial: new Set() });
        if (exact !== c.tokenCount) problems.push(`${file} #${c.ordinal}: tokenCount ${c.tokenCount} != ${exact}`);
        if (c.chunkHash !== chunkHash(c.text)) problems.push(`${file} #${c.ordinal}: bad chunk hash`);
        if (c.anchor !== null && !targets.has(c.anchor))
          problems.push(`${file} #${c.ordinal}: anchor ${c.anchor} is not an id in the page`);
      });
    }
    expect(problems.slice(0, 20)).toEqual([]);
    expect(chunks).toBeGreaterThan(files.length);
    expect(anchored / chunks).toBeGreaterThan(0.8);

    // sql-createindex.html: the "Building Indexes Concurrently" section, with its real id.
    const createIndex = byFile.get('sql-createindex.html');
    expect(createIndex).toBeDefined();
    const concurrently = createIndex!.chunks.filter((c) =>
      c.headingPath.some((h) => h.includes('Building Indexes Concurrently')),
    );
    expect(concurrently.length).toBeGreaterThan(0);
    for (const c of concurrently) {
      expect(c.anchor).toBe('SQL-CREATEINDEX-CONCURRENTLY');
      expect(fragmentTargets(createIndex!.html).has(c.anchor!)).toBe(true);
    }
    expect(concurrently.map((c) => c.text).join('\n')).toContain(
      'PostgreSQL supports building indexes without locking out writes.',
    );
    // Navigation chrome is gone: no chunk is just "Prev Up Next".
    for (const c of createIndex!.chunks) expect(c.text).not.toMatch(/^Prev\b.*\bNext$/m);
  }, 180_000);
});
