import { describe, expect, it } from 'vitest';
import { embedText } from '../../src/vectors.ts';
import { base64ToFloat32, float32ToBase64 } from '../../src/vector-encoding.ts';

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return dot / Math.sqrt(na * nb);
}

function norm(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += (v[i] as number) ** 2;
  return Math.sqrt(s);
}

describe('embedText', () => {
  it('is deterministic', () => {
    const text = 'The quick brown fox jumps over the lazy dog.';
    expect(Array.from(embedText(text, 1536))).toEqual(Array.from(embedText(text, 1536)));
    // and independent of what was embedded in between (reused buffers are cleared)
    embedText('something else entirely, with many many words', 3072);
    expect(Array.from(embedText(text, 1536))).toEqual(Array.from(embedText(text, 1536)));
  });

  it.each([1, 8, 256, 1536, 3072])('returns a unit Float32Array of %d dimensions', (dims) => {
    const v = embedText('hello world, hello embeddings', dims);
    expect(v).toBeInstanceOf(Float32Array);
    expect(v.length).toBe(dims);
    expect(norm(v)).toBeCloseTo(1, 5);
  });

  it.each(['', '!!!', '   ', '🙂🙂', '—'])('gives a valid unit vector to %j (no word characters)', (text) => {
    const v = embedText(text, 64);
    expect(norm(v)).toBeCloseTo(1, 5);
    expect(v.every(Number.isFinite)).toBe(true);
  });

  it('ignores case and punctuation', () => {
    expect(Array.from(embedText('Hello, World!', 256))).toEqual(Array.from(embedText('hello world', 256)));
  });

  it('scores texts that share words above unrelated texts', () => {
    const query = 'how to configure the postgres connection pool size';
    const related = 'Configure the connection pool size of the Postgres client before starting the workers.';
    const unrelated = 'Bananas are rich in potassium and taste best when ripe and yellow.';
    const q = embedText(query, 1536);
    expect(cosine(q, embedText(related, 1536))).toBeGreaterThan(cosine(q, embedText(unrelated, 1536)) + 0.2);
  });

  it('ranks by overlap: more shared words, higher similarity', () => {
    const base = embedText('red apples grow on tall trees in the orchard', 1536);
    const many = embedText('red apples grow on trees in an orchard', 1536);
    const few = embedText('apples are sold at the market', 1536);
    const none = embedText('quantum chromodynamics describes gluons', 1536);
    const sims = [many, few, none].map((v) => cosine(base, v));
    expect(sims[0]).toBeGreaterThan(sims[1] as number);
    expect(sims[1]).toBeGreaterThan(sims[2] as number);
  });

  it('uses word order through word pairs', () => {
    const a = embedText('dog bites man', 1536);
    expect(cosine(a, embedText('dog bites man', 1536))).toBeCloseTo(1, 5);
    const reordered = cosine(a, embedText('man bites dog', 1536));
    expect(reordered).toBeLessThan(0.999);
    expect(reordered).toBeGreaterThan(0.5);
  });
});

describe('base64 encoding', () => {
  it('round-trips float32 values exactly, little-endian', () => {
    const v = embedText('round trip', 32);
    const b64 = float32ToBase64(v);
    expect(Array.from(base64ToFloat32(b64))).toEqual(Array.from(v));
    const bytes = Buffer.from(b64, 'base64');
    expect(bytes.length).toBe(32 * 4);
    expect(bytes.readFloatLE(4)).toBe(v[1]);
  });
});
