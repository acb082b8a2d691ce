/**
 * Sections → token-bounded chunks (cl100k_base).
 *
 * - A chunk never spans two sections; empty sections yield nothing.
 * - A section that fits in `maxTokens` is one chunk, its text unchanged.
 * - Otherwise the section is cut into pieces — paragraphs; a paragraph too
 *   big for a chunk is cut at lines, then sentences, then (last resort)
 *   token boundaries — and the pieces are packed greedily. Every piece keeps
 *   the exact whitespace that separated it from the previous one, so a chunk
 *   is always a verbatim slice of the section text.
 * - Consecutive chunks of one section overlap: a chunk starts with the last
 *   ~`overlapTokens` of the previous chunk, whole sentences or lines where
 *   they fit, else the last tokens.
 * - `tokenCount` is the exact count of the chunk text, never over
 *   `maxTokens`: each piece is counted once, packing uses the sum, and the
 *   final text is counted once more (backing off if the estimate was low).
 */
import { countTokens as count, decode, encode } from './tokenizer.ts';
import { chunkHash } from '../hash/hash.ts';
import type { ExtractedDocument, Section } from '../extract/types.ts';

export interface ChunkDraft {
  ordinal: number;
  text: string;
  tokenCount: number;
  headingPath: string[];
  anchor: string | null;
  chunkHash: string;
}

/**
 * Which algorithm cuts long sections (docs/design.md, "Content-defined chunking"):
 * - 1: greedy packing from the section start (Sluice before issue 12);
 * - 2: content-defined cut points (a cut depends on the text around it, not
 *   on where the section starts), so an edit changes the chunk that holds it
 *   and at most its neighbours.
 * Stored on each document: a document chunked by another version is
 * re-chunked on its next crawl even when its content did not change.
 */
export type ChunkerVersion = 1 | 2;

/** The version new documents are chunked with unless `CHUNKER_VERSION` says otherwise. */
export const CURRENT_CHUNKER_VERSION: ChunkerVersion = 2;

/** Every chunker version this build can run. */
export const CHUNKER_VERSIONS: readonly ChunkerVersion[] = [1, 2];

export interface ChunkOptions {
  /** Upper bound of a chunk, tokens (cl100k_base), overlap included. */
  maxTokens: number;
  /** Tokens repeated from the previous chunk of the same section. */
  overlapTokens: number;
  /** The algorithm; default {@link CURRENT_CHUNKER_VERSION}. */
  version?: ChunkerVersion | undefined;
}

// Text like "<|endoftext|>" in a page is ordinary text, not a special token.
const PLAIN = { disallowedSpecial: new Set<string>() };

/** Exact cl100k_base token count of a text, special-token strings counted as plain text. */
export function countTokens(text: string): number {
  return text === '' ? 0 : count(text, PLAIN);
}

interface Piece {
  /** Whitespace between the previous piece and this one ('' for the first, or a token cut). */
  sep: string;
  text: string;
  tokens: number;
}

// Separators are newlines and whitespace-only lines; a line's indentation stays with the line.
const PARAGRAPH_SPLIT = /(\n[^\S\n]*\n(?:[^\S\n]*\n)*)/;
const LINE_SPLIT = /(\n(?:[^\S\n]*\n)*)/;
// After . ! ? (optionally followed by a closing quote/bracket) and whitespace;
// after CJK full stops even without whitespace.
const SENTENCE_SPLIT = /((?<=[.!?…]["'”’)\]]?)\s+|(?<=[。！？])\s*)/;

/** Splits `text` by a capturing separator regex into [sep, text] pairs. */
function splitKeep(text: string, re: RegExp): Array<{ sep: string; text: string }> {
  const parts = text.split(re);
  const out: Array<{ sep: string; text: string }> = [];
  let sep = '';
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (i % 2 === 1) {
      sep += part;
      continue;
    }
    if (part === '') continue;
    out.push({ sep, text: part });
    sep = '';
  }
  return out;
}

const REPLACEMENT = '\uFFFD';

/**
 * Longest text encoded at once, chars. gpt-tokenizer's encode spreads a
 * piece's tokens into one call (`push(...tokens)`), which overflows the
 * stack for a piece of a few hundred thousand tokens (a 1 MB line of one
 * letter); a text this long is cut into segments first.
 */
const ENCODE_SEGMENT_CHARS = 32_768;

/**
 * Cuts a text at token boundaries into pieces of at most `limit` tokens.
 * A cut never lands inside a character (a slice whose bytes do not decode
 * cleanly is shortened), and each piece is re-counted exactly. A text over
 * {@link ENCODE_SEGMENT_CHARS} is cut into segments first (never between the
 * halves of a surrogate pair), each cut on its own.
 */
function splitTokens(text: string, limit: number): Piece[] {
  if (text.length > ENCODE_SEGMENT_CHARS) {
    const out: Piece[] = [];
    for (let i = 0; i < text.length; ) {
      let end = Math.min(text.length, i + ENCODE_SEGMENT_CHARS);
      const last = text.charCodeAt(end - 1);
      if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--;
      for (const p of splitTokens(text.slice(i, end), limit)) out.push(p);
      i = end;
    }
    return out;
  }
  const tokens = encode(text, PLAIN);
  const hadReplacement = text.includes(REPLACEMENT);
  const pieces: Piece[] = [];
  let start = 0;
  while (start < tokens.length) {
    let end = Math.min(tokens.length, start + limit);
    let piece = '';
    for (;;) {
      piece = decode(tokens.slice(start, end));
      const clean = hadReplacement || !piece.includes(REPLACEMENT);
      if ((clean && countTokens(piece) <= limit) || end - start <= 1) break;
      end--;
    }
    if (piece !== '') pieces.push({ sep: '', text: piece, tokens: countTokens(piece) });
    start = end;
  }
  return pieces;
}

/** Cuts one paragraph that is over `limit` into pieces of at most `limit` tokens. */
function splitOversize(text: string, limit: number, level: 0 | 1 | 2): Piece[] {
  const splitter = level === 0 ? LINE_SPLIT : SENTENCE_SPLIT;
  const parts = level === 2 ? [] : splitKeep(text, splitter);
  if (parts.length <= 1) {
    return level === 2 ? splitTokens(text, limit) : splitOversize(text, limit, (level + 1) as 1 | 2);
  }
  const out: Piece[] = [];
  for (const part of parts) {
    const tokens = countTokens(part.text);
    if (tokens <= limit) {
      out.push({ sep: part.sep, text: part.text, tokens });
    } else {
      const sub = splitOversize(part.text, limit, (level + 1) as 1 | 2);
      if (sub[0]) sub[0].sep = part.sep;
      out.push(...sub);
    }
  }
  return out;
}

/** A section's text cut into pieces of at most `limit` tokens each. */
function pieces(text: string, limit: number): Piece[] {
  const out: Piece[] = [];
  for (const para of splitKeep(text, PARAGRAPH_SPLIT)) {
    const tokens = countTokens(para.text);
    if (tokens <= limit) {
      out.push({ sep: para.sep, text: para.text, tokens });
    } else {
      const sub = splitOversize(para.text, limit, 0);
      if (sub[0]) sub[0].sep = para.sep;
      out.push(...sub);
    }
  }
  return out;
}

function sepTokens(sep: string): number {
  return sep === '' ? 0 : /\n/.test(sep) ? 1 : 0;
}

function joinPieces(ps: readonly Piece[]): string {
  let s = '';
  for (let i = 0; i < ps.length; i++) s += (i === 0 ? '' : ps[i]!.sep) + ps[i]!.text;
  return s;
}

/** Cleans a chunk's edges: no leading blank lines, no trailing whitespace. */
function tidy(text: string): string {
  return text.replace(/^(?:[^\S\n]*\n)+/, '').trimEnd();
}

/**
 * The tail of `text` to repeat at the start of the next chunk: as many whole
 * sentences/lines from the end as fit in `budget` tokens; if not even the
 * last one fits, its last `budget` tokens.
 */
function overlapTail(text: string, budget: number): Piece | null {
  if (budget <= 0) return null;
  const units = splitKeep(text, /(\n(?:[^\S\n]*\n)*|(?<=[.!?…]["'”’)\]]?)[^\S\n]+|(?<=[。！？])[^\S\n]*)/);
  let tail = '';
  let tokens = 0;
  for (let i = units.length - 1; i >= 0; i--) {
    const u = units[i]!;
    const candidate = u.text + (tail === '' ? '' : units[i + 1]!.sep + tail);
    const n = countTokens(candidate);
    if (n > budget) break;
    tail = candidate;
    tokens = n;
  }
  if (tail === '') {
    // Not even the last sentence fits: its last tokens, from a word start.
    const all = encode(text, PLAIN);
    const raw = decode(all.slice(Math.max(0, all.length - budget)));
    const atWordStart = /^\S/.test(raw) && /\s$/.test(text.slice(0, text.length - raw.length));
    const cut = raw.search(/\s\S/);
    // Text without spaces (a blob, CJK): the token tail as is, if it starts on a whole character.
    const words = atWordStart ? raw : cut >= 0 ? raw.slice(cut + 1) : raw.startsWith(REPLACEMENT) ? '' : raw;
    const n = countTokens(words);
    return words !== '' && n <= budget && text.endsWith(words) ? { sep: '', text: words, tokens: n } : null;
  }
  return { sep: '', text: tail, tokens };
}

/** Version 1: greedy packing of paragraphs from the section start. */
function chunkSectionGreedy(section: Section, opts: ChunkOptions): Array<{ text: string; tokenCount: number }> {
  const { maxTokens } = opts;
  const whole = tidy(section.text);
  if (whole.trim() === '') return [];
  const wholeTokens = countTokens(whole);
  if (wholeTokens <= maxTokens) return [{ text: whole, tokenCount: wholeTokens }];

  // Keep overlap well under the chunk size so that every chunk adds new text.
  const overlap = Math.max(0, Math.min(opts.overlapTokens, Math.floor(maxTokens / 2)));
  const all = pieces(whole, maxTokens - overlap);
  const out: Array<{ text: string; tokenCount: number }> = [];
  let i = 0;
  let prevText: string | null = null;
  while (i < all.length) {
    const first = all[i]!;
    // The tail of the previous chunk, leaving room for at least the next piece.
    let lead = prevText === null ? null : overlapTail(prevText, Math.min(overlap, maxTokens - first.tokens - 1));
    const chunk: Piece[] = lead ? [lead] : [];
    let estimate = lead ? lead.tokens : 0;
    let j = i;
    while (j < all.length) {
      const p = all[j]!;
      const add = (chunk.length > 0 ? sepTokens(p.sep) : 0) + p.tokens;
      if (j > i && estimate + add > maxTokens) break;
      chunk.push(p);
      estimate += add;
      j++;
    }
    // Exact count; back off if the estimate was low.
    let text = tidy(joinPieces(chunk));
    let tokens = countTokens(text);
    while (tokens > maxTokens) {
      if (j - i > 1) {
        chunk.pop();
        j--;
      } else if (lead) {
        chunk.shift();
        lead = null;
      } else {
        break;
      }
      text = tidy(joinPieces(chunk));
      tokens = countTokens(text);
    }
    if (tokens > maxTokens) {
      // Cannot happen for pieces counted alone, but never emit an oversize chunk.
      for (const p of splitTokens(text, maxTokens)) out.push({ text: p.text, tokenCount: p.tokens });
    } else if (text.trim() !== '') {
      out.push({ text, tokenCount: tokens });
    }
    prevText = text;
    i = j;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Version 2: content-defined cut points.
// ---------------------------------------------------------------------------

/**
 * How strongly a boundary between two pieces separates them: a blank line
 * (paragraph) over a line break over a sentence end over a bare token cut.
 */
const LEVEL_PARAGRAPH = 3;
const LEVEL_LINE = 2;
const LEVEL_SENTENCE = 1;
const LEVEL_TOKEN = 0;

interface LevelledPiece extends Piece {
  /** How strongly the boundary before this piece separates (LEVEL_*; meaningless for the first piece). */
  level: number;
}

/**
 * A section's text cut at every paragraph, line and sentence boundary (and
 * at token boundaries inside a sentence over `limit` tokens), each piece
 * with the strength of the boundary before it. Every piece is at most
 * `limit` tokens; joined with their separators they are the text.
 */
function finePieces(text: string, limit: number): LevelledPiece[] {
  const out: LevelledPiece[] = [];
  for (const para of splitKeep(text, PARAGRAPH_SPLIT)) {
    let sep = para.sep;
    let level = LEVEL_PARAGRAPH;
    for (const line of splitKeep(para.text, LINE_SPLIT)) {
      if (line.sep !== '') {
        sep = line.sep;
        level = LEVEL_LINE;
      }
      for (const sentence of splitKeep(line.text, SENTENCE_SPLIT)) {
        if (sentence.sep !== '') {
          sep = sentence.sep;
          level = LEVEL_SENTENCE;
        }
        const tokens = countTokens(sentence.text);
        if (tokens <= limit) {
          out.push({ sep, text: sentence.text, tokens, level });
        } else {
          const parts = splitTokens(sentence.text, limit);
          for (let i = 0; i < parts.length; i++) {
            out.push({ ...parts[i]!, sep: i === 0 ? sep : '', level: i === 0 ? level : LEVEL_TOKEN });
          }
        }
        sep = '';
        level = LEVEL_TOKEN;
      }
    }
  }
  return out;
}

/** FNV-1a (32 bits) of a string's UTF-16 code units: a cheap, stable hash of a piece's text. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Range arg-max over a fixed array (a segment tree): O(n) to build, O(log n) per query; leftmost on ties. */
class ArgMax {
  readonly #size: number;
  readonly #tree: Int32Array;
  readonly #values: Float64Array;

  constructor(values: Float64Array) {
    this.#values = values;
    let size = 1;
    while (size < values.length) size *= 2;
    this.#size = size;
    this.#tree = new Int32Array(2 * size).fill(-1);
    for (let i = 0; i < values.length; i++) this.#tree[size + i] = i;
    for (let i = size - 1; i >= 1; i--) this.#tree[i] = this.#better(this.#tree[2 * i]!, this.#tree[2 * i + 1]!);
  }

  #better(a: number, b: number): number {
    if (a < 0) return b;
    if (b < 0) return a;
    const va = this.#values[a]!;
    const vb = this.#values[b]!;
    return vb > va || (vb === va && b < a) ? b : a;
  }

  /** Index of the largest value in [lo, hi] (inclusive), -1 when the range is empty. */
  query(lo: number, hi: number): number {
    let best = -1;
    let l = lo + this.#size;
    let r = hi + this.#size + 1;
    while (l < r) {
      if (l & 1) best = this.#better(best, this.#tree[l++]!);
      if (r & 1) best = this.#better(best, this.#tree[--r]!);
      l >>= 1;
      r >>= 1;
    }
    return best;
  }
}

/** The smallest part a content-defined cut leaves on either side, as a fraction of the body budget. */
const MIN_PART_FRACTION = 0.25;

/**
 * Version 2. A section that fits in `maxTokens` is one chunk, as in version
 * 1. A longer one is cut into pieces at every paragraph, line and sentence
 * boundary; each boundary gets a priority from its content alone — its
 * strength (paragraph > line > sentence > token cut), then a hash of the
 * piece before it. The section is split at its highest-priority boundary
 * that leaves at least a quarter of the body budget on each side, and each
 * part again, until every part fits in the body budget (`maxTokens` minus
 * the overlap); a part with no such boundary is split at its best boundary.
 * A cut thus depends on the text around it and on the cuts above it, not on
 * where the section starts: an edit inside one part leaves the parts it
 * does not touch as they were (docs/design.md, "Content-defined chunking").
 * Each chunk then starts with the tail of the previous chunk's own text
 * (overlap), as in version 1. Work is O(n log n) in the section's pieces.
 */
function chunkSectionContentDefined(section: Section, opts: ChunkOptions): Array<{ text: string; tokenCount: number }> {
  const { maxTokens } = opts;
  const whole = tidy(section.text);
  if (whole.trim() === '') return [];
  const wholeTokens = countTokens(whole);
  if (wholeTokens <= maxTokens) return [{ text: whole, tokenCount: wholeTokens }];

  const overlap = Math.max(0, Math.min(opts.overlapTokens, Math.floor(maxTokens / 2)));
  const budget = maxTokens - overlap;
  const minPart = Math.max(1, Math.floor(budget * MIN_PART_FRACTION));
  const ps = finePieces(whole, budget);
  const n = ps.length;
  // pre[k]: estimated tokens of pieces 0..k-1 with their separators.
  const pre = new Float64Array(n + 1);
  for (let k = 0; k < n; k++) pre[k + 1] = pre[k]! + sepTokens(ps[k]!.sep) + ps[k]!.tokens;
  const size = (i: number, j: number): number => pre[j]! - pre[i]! - sepTokens(ps[i]!.sep);
  // priority[k]: of the boundary before piece k (k >= 1).
  const priority = new Float64Array(n);
  priority[0] = -1;
  for (let k = 1; k < n; k++) priority[k] = ps[k]!.level * 2 ** 32 + fnv1a(ps[k - 1]!.text);
  const best = new ArgMax(priority);

  /** First k in [lo, hi] with pre[k] >= x (hi + 1 when none). */
  const lowerBound = (lo: number, hi: number, x: number): number => {
    let a = lo;
    let b = hi + 1;
    while (a < b) {
      const m = (a + b) >>> 1;
      if (pre[m]! >= x) b = m;
      else a = m + 1;
    }
    return a;
  };

  // Parts [i, j) of pieces, split depth first, left before right.
  const bodies: Array<{ sep: string; text: string; tokens: number }> = [];
  const stack: Array<[number, number]> = [[0, n]];
  while (stack.length) {
    const [i, j] = stack.pop()!;
    if (size(i, j) <= budget || j - i === 1) {
      const text = tidy(joinPieces(ps.slice(i, j)));
      const tokens = countTokens(text);
      if (tokens <= budget || j - i === 1) {
        if (text.trim() !== '') bodies.push({ sep: ps[i]!.sep, text, tokens });
        continue;
      }
    }
    // Boundaries k in (i, j) leaving at least minPart tokens on each side, else any boundary.
    const lo = Math.max(i + 1, lowerBound(i + 1, j - 1, pre[i]! + minPart));
    const hi = lowerBound(i + 1, j - 1, pre[j]! - minPart) - 1;
    let k = lo <= hi ? best.query(lo, hi) : -1;
    if (k < 0) k = best.query(i + 1, j - 1);
    stack.push([k, j], [i, k]);
  }

  const out: Array<{ text: string; tokenCount: number }> = [];
  let prevBody: string | null = null;
  for (const body of bodies) {
    let text = body.text;
    let tokens = body.tokens;
    const lead = prevBody === null ? null : overlapTail(prevBody, Math.min(overlap, maxTokens - body.tokens - 1));
    if (lead) {
      // Joined by the whitespace that separates the two in the section.
      const withLead = tidy(`${lead.text}${body.sep}${body.text}`);
      const n2 = countTokens(withLead);
      if (n2 <= maxTokens) {
        text = withLead;
        tokens = n2;
      }
    }
    if (tokens > maxTokens) {
      // Cannot happen (a body is at most `budget` tokens), but never emit an oversize chunk.
      for (const p of splitTokens(text, maxTokens)) out.push({ text: p.text, tokenCount: p.tokens });
    } else {
      out.push({ text, tokenCount: tokens });
    }
    prevBody = body.text;
  }
  return out;
}

/** Cuts an extracted document into chunk drafts, numbered from 0 in document order. */
export function chunkDocument(doc: ExtractedDocument, opts: ChunkOptions): ChunkDraft[] {
  if (!Number.isInteger(opts.maxTokens) || opts.maxTokens < 8) {
    throw new RangeError(`chunkDocument: maxTokens must be an integer >= 8, got ${opts.maxTokens}`);
  }
  if (!Number.isInteger(opts.overlapTokens) || opts.overlapTokens < 0) {
    throw new RangeError(`chunkDocument: overlapTokens must be an integer >= 0, got ${opts.overlapTokens}`);
  }
  if (opts.version !== undefined && !CHUNKER_VERSIONS.includes(opts.version)) {
    throw new RangeError(
      `chunkDocument: version must be one of ${CHUNKER_VERSIONS.join(', ')}, got ${String(opts.version)}`,
    );
  }
  const drafts: ChunkDraft[] = [];
  for (const section of doc.sections) {
    const cut = (opts.version ?? CURRENT_CHUNKER_VERSION) === 1 ? chunkSectionGreedy : chunkSectionContentDefined;
    for (const c of cut(section, opts)) {
      drafts.push({
        ordinal: drafts.length,
        text: c.text,
        tokenCount: c.tokenCount,
        headingPath: [...section.headingPath],
        anchor: section.anchor,
        chunkHash: chunkHash(c.text),
      });
    }
  }
  return drafts;
}
