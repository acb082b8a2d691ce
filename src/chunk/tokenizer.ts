/**
 * The cl100k_base tokenizer (gpt-tokenizer), with its byte-pair merge made
 * O(m log m) for long pieces (docs/design.md, "Linear-time text").
 *
 * gpt-tokenizer merges a piece (a run the split regex keeps whole: a run of
 * spaces, of one punctuation character, a long word) the way tiktoken's
 * reference code does: every merge rescans all pairs of the piece for the
 * lowest rank and splices an array, O(m²) for a piece of m bytes. A 40,000-space
 * run took 1.5 s to count, 320,000 spaces two minutes. {@link heapBytePairMerge}
 * makes the same merges in the same order (lowest rank first, the leftmost of
 * equal ranks) from a heap of the current pairs, so the tokens are identical
 * (tested against the library's own merge); pieces of at most
 * {@link HEAP_MERGE_MIN_BYTES} bytes keep the library's merge, which is faster
 * for them.
 *
 * The merge is replaced on the library's shared encoder object when this
 * module loads, so every user of `gpt-tokenizer/encoding/cl100k_base` in the
 * process gets it. If a gpt-tokenizer release renames what is replaced, the
 * import fails with {@link TokenizerInternalsError} instead of silently
 * going quadratic again.
 */
import cl100k from 'gpt-tokenizer/encoding/cl100k_base';

/** Pieces longer than this, bytes, are merged through the heap; shorter ones by the library (faster when short). */
export const HEAP_MERGE_MIN_BYTES = 256;

/** gpt-tokenizer no longer has the internals this module replaces: pin the version that has them, or port the patch. */
export class TokenizerInternalsError extends Error {
  override name = 'TokenizerInternalsError';
}

interface BytePairCore {
  bytePairMerge(piece: Uint8Array): number[];
  getBpeRankFromBytes(key: Uint8Array): number | undefined;
  getBpeRankFromString(key: string): number | undefined;
}

/**
 * The rank lookup for {@link heapBytePairMerge}: ASCII byte strings (almost
 * every long piece: spaces, punctuation, letters) go straight to the
 * library's string map, skipping its UTF-8 validation and TextDecoder call.
 */
function fastRankOf(core: BytePairCore): (bytes: Uint8Array) => number | undefined {
  return (bytes) => {
    for (let i = 0; i < bytes.length; i++) if (bytes[i]! >= 0x80) return core.getBpeRankFromBytes(bytes);
    return core.getBpeRankFromString(String.fromCharCode.apply(null, bytes as unknown as number[]));
  };
}

/**
 * Byte-pair merge of one piece with a binary heap of (rank, position) pairs:
 * the merges and their order equal the reference algorithm's (repeatedly
 * merge the lowest-ranked adjacent pair, the leftmost among equals), in
 * O(m log m) for m bytes, since a merged part only ever grows to a token of
 * the vocabulary (at most a few hundred bytes).
 * @param rankOf the rank of a byte string in the vocabulary, undefined if it is no token
 * @returns the ranks of the final parts, left to right
 */
export function heapBytePairMerge(piece: Uint8Array, rankOf: (bytes: Uint8Array) => number | undefined): number[] {
  const n = piece.length;
  if (n === 0) return [];
  if (n > MAX_HEAP_PIECE_BYTES)
    throw new RangeError(`heapBytePairMerge: a piece of ${n} bytes is over ${MAX_HEAP_PIECE_BYTES}`);
  // Parts are named by their first byte; next[i] is where the part starting at i ends.
  const next = new Int32Array(n + 1);
  const prev = new Int32Array(n + 1);
  const alive = new Uint8Array(n + 1);
  // The rank of the pair a part starts now (-1: none), so that outdated heap entries are recognised.
  const pairRank = new Float64Array(n + 1).fill(-1);
  for (let i = 0; i < n; i++) {
    next[i] = i + 1;
    prev[i] = i - 1;
    alive[i] = 1;
  }
  // Min-heap of rank × 2^POS_BITS + position: lowest rank first, the leftmost of equal ranks.
  let heap = new Float64Array(Math.max(16, n));
  let size = 0;
  const push = (pos: number): void => {
    const mid = next[pos]!;
    const rank = mid >= n ? undefined : rankOf(piece.subarray(pos, next[mid]!));
    pairRank[pos] = rank ?? -1;
    if (rank === undefined) return;
    if (size === heap.length) {
      const bigger = new Float64Array(heap.length * 2);
      bigger.set(heap);
      heap = bigger;
    }
    const key = rank * POS_SPAN + pos;
    let i = size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]! <= key) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = key;
  };
  const pop = (): number => {
    const top = heap[0]!;
    const last = heap[--size]!;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= size) break;
      const r = l + 1;
      const c = r < size && heap[r]! < heap[l]! ? r : l;
      if (heap[c]! >= last) break;
      heap[i] = heap[c]!;
      i = c;
    }
    heap[i] = last;
    return top;
  };

  for (let i = 0; i < n - 1; i++) push(i);
  while (size > 0) {
    const key = pop();
    const pos = key % POS_SPAN;
    const rank = (key - pos) / POS_SPAN;
    if (alive[pos] === 0 || pairRank[pos] !== rank) continue;
    // Merge the part at `pos` with the one after it.
    const mid = next[pos]!;
    const end = next[mid]!;
    alive[mid] = 0;
    next[pos] = end;
    if (end < n) prev[end] = pos;
    push(pos);
    if (prev[pos]! >= 0) push(prev[pos]!);
  }
  const out: number[] = [];
  for (let i = 0; i < n; i = next[i]!) {
    const rank = rankOf(piece.subarray(i, next[i]!));
    if (rank === undefined) throw new Error(`byte-pair merge left a part that is no token at byte ${i}`);
    out.push(rank);
  }
  return out;
}

/** Heap keys pack rank × 2^24 + position exactly in a double (ranks < 2^28): pieces up to 16 MiB. */
const POS_SPAN = 2 ** 24;
const MAX_HEAP_PIECE_BYTES = POS_SPAN;

function installHeapMerge(): void {
  const core = (cl100k as unknown as { bytePairEncodingCoreProcessor?: Partial<BytePairCore> })
    .bytePairEncodingCoreProcessor;
  if (
    typeof core?.bytePairMerge !== 'function' ||
    typeof core.getBpeRankFromBytes !== 'function' ||
    typeof core.getBpeRankFromString !== 'function'
  ) {
    throw new TokenizerInternalsError(
      'gpt-tokenizer: cl100k_base has no bytePairEncodingCoreProcessor.bytePairMerge/getBpeRankFromBytes/String; ' +
        'src/chunk/tokenizer.ts replaces that merge (quadratic on long pieces): pin the gpt-tokenizer version in ' +
        'package.json that has it, or port the replacement',
    );
  }
  const library = core.bytePairMerge.bind(core);
  const rankOf = fastRankOf(core as BytePairCore);
  // Over 16 MiB (no crawled page is that big) the library's merge runs, and the CPU limit per document stops it.
  core.bytePairMerge = (piece: Uint8Array) =>
    piece.length <= HEAP_MERGE_MIN_BYTES || piece.length > MAX_HEAP_PIECE_BYTES
      ? library(piece)
      : heapBytePairMerge(piece, rankOf);
  Object.defineProperty(core, LIBRARY_MERGE, { value: library });
}

/** Where the library's own merge is kept, for the test that compares the two. */
const LIBRARY_MERGE = Symbol.for('sluice.tokenizer.libraryMerge');

installHeapMerge();

/**
 * The library's own (quadratic) merge and the rank lookup, for tests that
 * compare {@link heapBytePairMerge} with it.
 * @internal
 */
export function libraryMerge(): {
  merge: (piece: Uint8Array) => number[];
  rankOf: (b: Uint8Array) => number | undefined;
} {
  const core = (cl100k as unknown as { bytePairEncodingCoreProcessor: BytePairCore }).bytePairEncodingCoreProcessor;
  const merge = (core as unknown as Record<symbol, (piece: Uint8Array) => number[]>)[LIBRARY_MERGE]!;
  return { merge, rankOf: (b) => core.getBpeRankFromBytes(b) };
}

// Re-exported so that importing the tokenizer always installs the merge first.
export { countTokens, decode, encode } from 'gpt-tokenizer/encoding/cl100k_base';
