import { describe, expect, it } from 'vitest';
import { filesetHash, isTextFilename } from '../../src/files/fileset.ts';
import { contentHash } from '../../src/hash/index.ts';

const a = 'a'.repeat(64);
const b = 'b'.repeat(64);
const c = 'c'.repeat(64);

describe('filesetHash', () => {
  it.each([
    { name: 'order does not matter', x: [a, b, c], y: [c, a, b], same: true },
    { name: 'duplicates do not matter', x: [a, b], y: [b, a, a], same: true },
    { name: 'a changed file changes it', x: [a, b], y: [a, c], same: false },
    { name: 'an added file changes it', x: [a, b], y: [a, b, c], same: false },
  ])('$name', ({ x, y, same }) => {
    expect(filesetHash(x) === filesetHash(y)).toBe(same);
  });

  it('depends on the chunking strategy', () => {
    const s = { type: 'static' as const, static: { max_chunk_size_tokens: 800, chunk_overlap_tokens: 400 } };
    expect(filesetHash([a, b])).not.toBe(filesetHash([a, b], s));
    expect(filesetHash([a, b], s)).toBe(
      filesetHash([b, a], { type: 'static', static: { max_chunk_size_tokens: 800, chunk_overlap_tokens: 400 } }),
    );
  });

  it('gives the same file content hash for CRLF and LF text, not for binaries', () => {
    const lf = Buffer.from('line one\nline two\n');
    const crlf = Buffer.from('line one\r\nline two\r\n');
    expect(contentHash(crlf, isTextFilename('x.md'))).toBe(contentHash(lf, isTextFilename('x.md')));
    expect(contentHash(crlf, isTextFilename('x.pdf'))).not.toBe(contentHash(lf, isTextFilename('x.pdf')));
  });
});
