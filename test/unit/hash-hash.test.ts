import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { chunkHash, contentHash, hashFileStream, normaliseText, sha256Hex } from '../../src/hash/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'sluice-hash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('sha256Hex', () => {
  it.each([
    ['', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
    ['abc', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
  ])('hashes %j', (input, hex) => {
    expect(sha256Hex(input)).toBe(hex);
    expect(sha256Hex(new TextEncoder().encode(input))).toBe(hex);
  });
});

describe('normaliseText', () => {
  it.each([
    ['a\r\nb', 'a\nb'],
    ['a\rb', 'a\nb'],
    ['a  \t\nb \n', 'a\nb'],
    ['a\n\n\n\n\nb', 'a\n\nb'],
    ['a\n \n\t\n  \nb', 'a\n\nb'],
    ['  \n\n  indented\n', 'indented'],
    ['code:\n    x = 1\n    y = 2', 'code:\n    x = 1\n    y = 2'],
    ['Cafe\u0301', 'Caf\u00e9'],
  ])('%j → %j', (input, expected) => {
    expect(normaliseText(input)).toBe(expected);
  });
});

describe('chunkHash', () => {
  it('is equal for CRLF and LF, NFC and NFD, trailing spaces', () => {
    const a = chunkHash('Caf\u00e9 au lait\nsecond line\n\nthird');
    expect(chunkHash('Cafe\u0301 au lait  \r\nsecond line\r\n\r\n\r\nthird\r\n')).toBe(a);
    expect(a).toBe(sha256Hex('Caf\u00e9 au lait\nsecond line\n\nthird'));
  });
  it('differs when words differ', () => {
    expect(chunkHash('hello world')).not.toBe(chunkHash('hello  world!'));
  });
});

describe('contentHash', () => {
  const enc = new TextEncoder();
  it('normalises line endings for text only', () => {
    const crlf = enc.encode('a\r\nb\rc\n');
    const lf = enc.encode('a\nb\nc\n');
    expect(contentHash(crlf, true)).toBe(contentHash(lf, true));
    expect(contentHash(lf, true)).toBe(sha256Hex(lf));
    expect(contentHash(crlf, false)).toBe(sha256Hex(crlf));
    expect(contentHash(crlf, false)).not.toBe(contentHash(lf, false));
  });
  it('handles a trailing CR and CR CR LF', () => {
    expect(contentHash(enc.encode('a\r'), true)).toBe(sha256Hex('a\n'));
    expect(contentHash(enc.encode('a\r\r\nb'), true)).toBe(sha256Hex('a\n\nb'));
  });
});

describe('hashFileStream', () => {
  it('equals the in-memory hash for a 10 MB text file with CRLFs straddling stream chunks', async () => {
    // Lines of varying length so that CRLFs fall on every offset, including chunk boundaries.
    const parts: string[] = [];
    let size = 0;
    for (let i = 0; size < 10 * 1024 * 1024; i++) {
      const line = `line ${i} ${'x'.repeat(i % 97)} é€\r\n${i % 5 === 0 ? '\r' : ''}`;
      parts.push(line);
      size += Buffer.byteLength(line);
    }
    const file = join(dir, 'big.txt');
    writeFileSync(file, parts.join(''));
    const bytes = readFileSync(file);
    expect(bytes.length).toBeGreaterThanOrEqual(10 * 1024 * 1024);
    const inMemory = contentHash(bytes, true);
    const lf = Buffer.from(bytes.toString('utf8').replace(/\r\n?/g, '\n'));
    expect(inMemory).toBe(createHash('sha256').update(lf).digest('hex'));
    expect(await hashFileStream(file, true)).toBe(inMemory);
    // An odd chunk size puts CR|LF splits on many chunk boundaries.
    expect(await hashFileStream(file, true, { highWaterMark: 4099 })).toBe(inMemory);
  }, 60_000);

  it('a CRLF exactly on a chunk boundary', async () => {
    const file = join(dir, 'boundary.txt');
    writeFileSync(file, 'abc\r\ndef\r');
    for (const hwm of [1, 2, 3, 4, 5, 6, 64]) {
      expect(await hashFileStream(file, true, { highWaterMark: hwm })).toBe(sha256Hex('abc\ndef\n'));
    }
  });

  it('binary files are hashed verbatim', async () => {
    const file = join(dir, 'blob.bin');
    const data = Buffer.concat([randomBytes(100_000), Buffer.from('\r\n\r')]);
    writeFileSync(file, data);
    expect(await hashFileStream(file, false)).toBe(sha256Hex(data));
    expect(await hashFileStream(file, false)).toBe(contentHash(data, false));
  });
});
