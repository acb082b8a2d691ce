// The implementation before issue 18 (commit c7da808), kept for `npm run bench:text`'s "before" column only.
// Its regexes are super-linear on purpose: nothing but test/bench/text.ts may import this file.
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
import { countTokens as count, decode, encode } from 'gpt-tokenizer/encoding/cl100k_base';
import { chunkHash } from './hash.ts';
import type { ExtractedDocument, Section } from '../../../src/extract/types.ts';

export interface ChunkDraft {
  ordinal: number;
  text: string;
  tokenCount: number;
  headingPath: string[];
  anchor: string | null;
  chunkHash: string;
}

export interface ChunkOptions {
  maxTokens: number;
  overlapTokens: number;
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
 * Cuts a text at token boundaries into pieces of at most `limit` tokens.
 * A cut never lands inside a character (a slice whose bytes do not decode
 * cleanly is shortened), and each piece is re-counted exactly.
 */
function splitTokens(text: string, limit: number): Piece[] {
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

function chunkSection(section: Section, opts: ChunkOptions): Array<{ text: string; tokenCount: number }> {
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

/** Cuts an extracted document into chunk drafts, numbered from 0 in document order. */
export function chunkDocument(doc: ExtractedDocument, opts: ChunkOptions): ChunkDraft[] {
  if (!Number.isInteger(opts.maxTokens) || opts.maxTokens < 8) {
    throw new RangeError(`chunkDocument: maxTokens must be an integer >= 8, got ${opts.maxTokens}`);
  }
  if (!Number.isInteger(opts.overlapTokens) || opts.overlapTokens < 0) {
    throw new RangeError(`chunkDocument: overlapTokens must be an integer >= 0, got ${opts.overlapTokens}`);
  }
  const drafts: ChunkDraft[] = [];
  for (const section of doc.sections) {
    for (const c of chunkSection(section, opts)) {
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
