/**
 * Seeds documents and chunks directly through Sluice's store (real
 * Postgres), for tests of the embed stage that need many chunks without a
 * crawl. Texts are distinct, deterministic sentences; token counts are exact.
 */
import { countTokens } from 'gpt-tokenizer/encoding/cl100k_base';
import type pg from 'pg';
import { CURRENT_CHUNKER_VERSION } from '../../src/chunk/index.ts';
import { chunkHash } from '../../src/hash/index.ts';
import { ensureCollection, writeDocument } from '../../src/store/documents.ts';

const WORDS =
  'alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu'.split(
    ' ',
  );

export function chunkText(doc: number, i: number, words = 60): string {
  const out: string[] = [`Document ${doc} chunk ${i}.`];
  let x = doc * 7919 + i * 104729;
  for (let w = 0; w < words; w++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out.push(WORDS[x % WORDS.length]!);
  }
  return out.join(' ');
}

/** Writes `docs` documents of `chunksPerDoc` chunks; returns their URIs and chunk hashes per document. */
export async function seedDocuments(pool: pg.Pool, collection: string, docs: number, chunksPerDoc: number, words = 60) {
  const collectionId = await ensureCollection(pool, collection);
  const out: Array<{ uri: string; hashes: string[]; tokens: number }> = [];
  for (let d = 0; d < docs; d++) {
    const uri = `inline:seed-${d}`;
    const chunks = Array.from({ length: chunksPerDoc }, (_, i) => {
      const text = chunkText(d, i, words);
      return { ordinal: i, chunkHash: chunkHash(text), url: uri, headingPath: [], text, tokenCount: countTokens(text) };
    });
    await writeDocument(pool, {
      collectionId,
      uri,
      kind: 'text',
      chunkerVersion: CURRENT_CHUNKER_VERSION,
      title: uri,
      contentHash: chunkHash(chunks.map((c) => c.text).join('\n')),
      bytes: 1,
      links: [],
      metadata: {},
      chunks,
    });
    out.push({
      uri,
      hashes: [...new Set(chunks.map((c) => c.chunkHash))].sort(),
      tokens: chunks.reduce((s, c) => s + c.tokenCount, 0),
    });
  }
  return out;
}
