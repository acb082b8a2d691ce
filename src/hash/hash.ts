/**
 * Hashing: chunk hashes (SHA-256 of normalised text) and content hashes
 * (SHA-256 of a document's bytes, line endings normalised for text), the
 * latter also as a stream for files too large to hold in memory.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

const CR = 0x0d;
const LF = 0x0a;

/** SHA-256 of a string (as UTF-8) or of bytes, lowercase hex. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Canonical form of a chunk's text, so that cosmetic differences do not
 * change its hash:
 * - CRLF and lone CR become LF;
 * - Unicode NFC;
 * - trailing whitespace on every line removed;
 * - more than one blank line in a row collapses to one blank line;
 * - leading and trailing whitespace (incl. blank lines) removed.
 * Leading indentation inside the text is kept (code blocks).
 */
export function normaliseText(text: string): string {
  return trimLineEnds(text.replace(/\r\n?/g, '\n').normalize('NFC'))
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** `\s` of a JavaScript regex, minus `\n`: white space and line terminators (ECMA-262 WhiteSpace, LineTerminator). */
function isSpaceNotLf(code: number): boolean {
  return (
    (code >= 0x09 && code <= 0x0d && code !== 0x0a) ||
    code === 0x20 ||
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  );
}

/** A line terminator other than `\n` (`$` of a multiline regex matches before one). */
function isOtherLineTerminator(code: number): boolean {
  return code === 0x0d || code === 0x2028 || code === 0x2029;
}

/**
 * Removes trailing white space from every line, in one pass: exactly what
 * `text.replace(/[^\S\n]+$/gm, '')` did (so chunk hashes stay the same, tested
 * against that regex), without its quadratic time on a long run of spaces
 * that does not end a line (docs/design.md, "Linear-time text"). For each
 * maximal run of white space other than `\n`, the regex removed the run from
 * its start up to the last place in it where `$` matches: the end of the
 * run when the text or a `\n` follows it, else the last line terminator
 * inside the run (CR, U+2028, U+2029); a run with neither is kept.
 */
function trimLineEnds(text: string): string {
  const n = text.length;
  let out = '';
  let copied = 0;
  let i = 0;
  while (i < n) {
    if (!isSpaceNotLf(text.charCodeAt(i))) {
      i++;
      continue;
    }
    const start = i;
    while (i < n && isSpaceNotLf(text.charCodeAt(i))) i++;
    let cut = -1;
    if (i === n || text.charCodeAt(i) === 0x0a) cut = i;
    else for (let p = i - 1; p > start && cut < 0; p--) if (isOtherLineTerminator(text.charCodeAt(p))) cut = p;
    if (cut >= 0) {
      out += text.slice(copied, start);
      copied = cut;
    }
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/** The chunk hash: SHA-256 hex of `normaliseText(text)`. */
export function chunkHash(text: string): string {
  return sha256Hex(normaliseText(text));
}

/**
 * Rewrites CRLF and lone CR to LF in a byte stream fed piece by piece. A CR
 * at the end of a piece is held back until the next piece shows whether an
 * LF follows (a CRLF can straddle two pieces). CR and LF never occur inside
 * a multi-byte UTF-8 sequence, so working on bytes is safe.
 */
class LineEndingNormaliser {
  #pendingCr = false;

  push(piece: Uint8Array): Uint8Array {
    // Fast path: most text has no CR at all (a native scan, no copy).
    if (!this.#pendingCr && piece.indexOf(CR) === -1) return piece;
    const out = new Uint8Array(piece.length + 1);
    let n = 0;
    let i = 0;
    if (this.#pendingCr) {
      this.#pendingCr = false;
      out[n++] = LF;
      if (piece.length > 0 && piece[0] === LF) i = 1;
    }
    for (; i < piece.length; i++) {
      const b = piece[i]!;
      if (b !== CR) {
        out[n++] = b;
        continue;
      }
      if (i + 1 === piece.length) {
        this.#pendingCr = true;
      } else {
        out[n++] = LF;
        if (piece[i + 1] === LF) i++;
      }
    }
    return out.subarray(0, n);
  }

  end(): Uint8Array {
    if (!this.#pendingCr) return new Uint8Array(0);
    this.#pendingCr = false;
    return Uint8Array.of(LF);
  }
}

/**
 * Content hash of a document: SHA-256 hex of its bytes; for text, CRLF and
 * lone CR are first rewritten to LF so a checkout on Windows hashes the same.
 */
export function contentHash(bytes: Uint8Array, isText: boolean): string {
  if (!isText) return sha256Hex(bytes);
  const norm = new LineEndingNormaliser();
  const hash = createHash('sha256');
  hash.update(norm.push(bytes));
  hash.update(norm.end());
  return hash.digest('hex');
}

/**
 * `contentHash` of a file, read as a stream (constant memory). Equal to
 * `contentHash(readFileSync(path), isText)` for every file and chunk size.
 */
export async function hashFileStream(
  path: string,
  isText: boolean,
  opts: { highWaterMark?: number } = {},
): Promise<string> {
  const hash = createHash('sha256');
  const norm = isText ? new LineEndingNormaliser() : null;
  const stream = createReadStream(path, { highWaterMark: opts.highWaterMark ?? 64 * 1024 });
  for await (const piece of stream as AsyncIterable<Buffer>) {
    hash.update(norm ? norm.push(piece) : piece);
  }
  if (norm) hash.update(norm.end());
  return hash.digest('hex');
}
