/**
 * The emulator's deterministic "embedding model": a signed feature-hashing
 * bag of words and word pairs. It is not semantic, but texts that share
 * words (and word order) get a higher cosine similarity than unrelated
 * texts, which is what retrieval tests need, and the same text always gets
 * the same vector.
 *
 * Hot path: the project embeds ~10k chunks of ~500 tokens per test run, so
 * the scan hashes words in place (FNV-1a over UTF-16 code units, no
 * substrings), counts features in a reused map and accumulates in a reused
 * buffer; the only allocation per call is the lower-cased copy of the text
 * and the returned vector.
 */

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
/** Bigrams weigh half a word: shared words dominate, shared order refines. */
const BIGRAM_WEIGHT = 0.5;
/** Mixed into a word's hash before the next word so "a b" ≠ "ab" as a bigram. */
const SEPARATOR = 0x20;

/** Word hash → term frequency, reused across calls (single-threaded). */
const words = new Map<number, number>();
/** Word-pair hash → term frequency, reused across calls. */
const pairs = new Map<number, number>();
/** Float64 accumulator, reused and grown on demand. */
let scratch = new Float64Array(3072);

/**
 * Embeds `text` into a deterministic, L2-normalised vector of `dimensions`
 * float32 values.
 *
 * Features: lower-cased words (maximal runs of letters/digits; everything
 * else separates) and adjacent word pairs, each weighted `1 + ln(tf)`
 * (bigrams × 0.5), hashed with FNV-1a into a bucket with a hash-derived sign
 * (so collisions cancel out on average instead of piling up). A text with no
 * word characters (e.g. `"!!!"`) is hashed whole so it still gets a valid
 * unit vector.
 *
 * @param text any string (the API rejects `""`, but this still returns a unit vector for it)
 * @param dimensions vector length, integer ≥ 1 (1536 for text-embedding-3-small, docs/openai-facts.md "Embeddings")
 * @returns a new Float32Array of length `dimensions` with L2 norm 1 (± float32 rounding)
 */
export function embedText(text: string, dimensions: number): Float32Array {
  if (!Number.isInteger(dimensions) || dimensions < 1) {
    throw new RangeError(`dimensions must be an integer ≥ 1, got ${dimensions}`);
  }
  countFeatures(text.toLowerCase());
  if (words.size === 0) words.set(hashString(text), 1);
  if (scratch.length < dimensions) scratch = new Float64Array(dimensions);
  const acc = scratch;
  acc.fill(0, 0, dimensions);
  addFeatures(acc, words, 1, dimensions);
  addFeatures(acc, pairs, BIGRAM_WEIGHT, dimensions);
  words.clear();
  pairs.clear();
  return normalise(acc, dimensions, text);
}

/** Adds `scale · (1 + ln tf)` with a hash-derived sign into each feature's bucket. */
function addFeatures(acc: Float64Array, features: Map<number, number>, scale: number, dimensions: number): void {
  for (const [key, tf] of features) {
    const h = fmix32(key);
    const weight = (1 + Math.log(tf)) * scale;
    const bucket = (h >>> 1) % dimensions;
    acc[bucket] = (acc[bucket] as number) + (h & 1 ? weight : -weight);
  }
}

/**
 * Scans `lower` once, hashing each word and each (previous word, word) pair
 * incrementally (no substrings), and records term frequencies in `words`
 * and `pairs`.
 */
function countFeatures(lower: string): void {
  let word = FNV_OFFSET;
  let pair = 0;
  let inWord = false;
  let hasPrev = false;
  for (let i = 0, n = lower.length; i <= n; i++) {
    const c = i < n ? lower.charCodeAt(i) : 0x20;
    if (isWordChar(c)) {
      if (!inWord) {
        inWord = true;
        word = FNV_OFFSET;
      }
      word = Math.imul(word ^ c, FNV_PRIME);
      if (hasPrev) pair = Math.imul(pair ^ c, FNV_PRIME);
      continue;
    }
    if (!inWord) continue;
    inWord = false;
    const w = word >>> 0;
    words.set(w, (words.get(w) ?? 0) + 1);
    if (hasPrev) {
      // Re-mixed so a pair's bucket is independent of its words' buckets.
      const p = fmix32(pair ^ 0x9e3779b9);
      pairs.set(p, (pairs.get(p) ?? 0) + 1);
    }
    // The next bigram starts as "<this word> ".
    pair = Math.imul(w ^ SEPARATOR, FNV_PRIME);
    hasPrev = true;
  }
}

const WORD_CHAR = /[\p{L}\p{N}]/u;

/** Letters and digits; ASCII by table, the rest by Unicode property. */
function isWordChar(c: number): boolean {
  if (c < 0x80) return (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a);
  if (c >= 0xd800 && c <= 0xdfff) return false; // lone surrogate halves: emoji etc. separate words
  return WORD_CHAR.test(String.fromCharCode(c));
}

/** FNV-1a over UTF-16 code units. */
function hashString(s: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME);
  return h >>> 0;
}

/** MurmurHash3's finaliser: spreads FNV's weak low bits before bucketing. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Copies the first `dimensions` accumulator cells into a unit Float32Array.
 * All features may cancel out (two features, same bucket, opposite signs),
 * leaving a zero vector; then a one-hot vector chosen by the text's hash is
 * returned so the result is still a valid unit vector.
 */
function normalise(acc: Float64Array, dimensions: number, text: string): Float32Array {
  let sum = 0;
  for (let i = 0; i < dimensions; i++) {
    const v = acc[i] as number;
    sum += v * v;
  }
  const out = new Float32Array(dimensions);
  if (sum === 0) {
    out[fmix32(hashString(text)) % dimensions] = 1;
    return out;
  }
  const inv = 1 / Math.sqrt(sum);
  for (let i = 0; i < dimensions; i++) out[i] = (acc[i] as number) * inv;
  return out;
}
