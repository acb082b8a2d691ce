/**
 * What a vector store makes of a file's bytes (docs/openai-facts.md, "Files": supported
 * types for vector stores, and "text must be UTF-8, UTF-16 or ASCII"):
 *
 * - an extension outside the supported list → `unsupported_file`;
 * - text types (everything but .pdf .doc .docx .pptx): UTF-8 (BOM optional),
 *   UTF-16 LE/BE (by BOM, or by the NUL-byte pattern without one) or ASCII;
 *   anything else, control characters other than whitespace and ESC
 *   (binary data), or no text at all →
 *   `invalid_file`;
 * - document types (.pdf .doc .docx .pptx) are not really parsed: their bytes
 *   are taken as text if they decode as such (handy for fixtures), otherwise
 *   the printable ASCII runs of ≥ 4 characters are kept (like `strings`);
 *   no text at all → `invalid_file`.
 */
import path from 'node:path';

/** Extensions a vector store accepts (docs/openai-facts.md, "Files"). */
// biome-ignore format: one list of OpenAI's, kept compact as the facts file gives it.
export const SUPPORTED_EXTENSIONS: readonly string[] = Object.freeze([
  '.c', '.cpp', '.cs', '.css', '.doc', '.docx', '.go', '.html', '.java', '.js', '.json',
  '.md', '.pdf', '.php', '.pptx', '.py', '.rb', '.sh', '.tex', '.ts', '.txt',
]);

const DOCUMENT_EXTENSIONS = new Set(['.pdf', '.doc', '.docx', '.pptx']);

/** The outcome of parsing a file. */
export type Extraction =
  | { ok: true; text: string }
  | { ok: false; code: 'unsupported_file' | 'invalid_file'; message: string };

/**
 * Extracts the text a vector store would index.
 * @param filename the File's name (its extension decides the type)
 * @param bytes the File's content
 */
export function extractText(filename: string, bytes: Buffer): Extraction {
  const ext = path.extname(filename).toLowerCase();
  if (!SUPPORTED_EXTENSIONS.includes(ext)) {
    return {
      ok: false,
      code: 'unsupported_file',
      message: `The file type ${ext === '' ? '(no extension)' : ext} is not supported. Supported types: ${SUPPORTED_EXTENSIONS.join(', ')}.`,
    };
  }
  let text = decodeText(bytes);
  if (text === undefined && DOCUMENT_EXTENSIONS.has(ext)) text = printableRuns(bytes);
  if (text === undefined) {
    return {
      ok: false,
      code: 'invalid_file',
      message: 'The file could not be parsed: its text must be encoded as UTF-8, UTF-16 or ASCII.',
    };
  }
  if (text.trim() === '')
    return { ok: false, code: 'invalid_file', message: 'The file is empty: it contains no text.' };
  return { ok: true, text };
}

/**
 * Decodes UTF-8 (optional BOM) or UTF-16 (BOM, or the NUL pattern of ASCII
 * text in UTF-16); `undefined` if the bytes are not text (invalid sequences,
 * or binary control characters).
 */
export function decodeText(bytes: Buffer): string | undefined {
  if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf)
    return strict('utf-8', bytes.subarray(3));
  if (bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0xfe) return strict('utf-16le', bytes.subarray(2));
  if (bytes.length >= 2 && bytes[0] === 0xfe && bytes[1] === 0xff) return strict('utf-16be', bytes.subarray(2));
  if (!bytes.includes(0)) return strict('utf-8', bytes);
  const guess = guessUtf16(bytes);
  return guess ? strict(guess, bytes) : undefined;
}

/** C0 controls other than tab, newlines, vertical tab, form feed and escape: binary data, not text. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is this regex's purpose.
const BINARY_CONTROLS = /[\u0000-\u0008\u000e-\u001a\u001c-\u001f]/;

function strict(encoding: 'utf-8' | 'utf-16le' | 'utf-16be', bytes: Buffer): string | undefined {
  try {
    const text = new TextDecoder(encoding, { fatal: true, ignoreBOM: true }).decode(bytes);
    return BINARY_CONTROLS.test(text) ? undefined : text;
  } catch {
    return undefined;
  }
}

/** UTF-16 without BOM: mostly-ASCII text has a NUL in every other byte. */
function guessUtf16(bytes: Buffer): 'utf-16le' | 'utf-16be' | undefined {
  if (bytes.length % 2 !== 0) return undefined;
  let evenNul = 0;
  let oddNul = 0;
  for (let i = 0; i < bytes.length; i += 2) {
    if (bytes[i] === 0) evenNul++;
    if (bytes[i + 1] === 0) oddNul++;
  }
  const pairs = bytes.length / 2;
  if (oddNul >= pairs * 0.3 && evenNul === 0) return 'utf-16le';
  if (evenNul >= pairs * 0.3 && oddNul === 0) return 'utf-16be';
  return undefined;
}

function printableRuns(bytes: Buffer): string | undefined {
  const runs: string[] = [];
  let start = -1;
  for (let i = 0; i <= bytes.length; i++) {
    const b = i < bytes.length ? (bytes[i] as number) : 0;
    const printable = (b >= 0x20 && b < 0x7f) || b === 0x09;
    if (printable && start < 0) start = i;
    if (!printable && start >= 0) {
      if (i - start >= 4) runs.push(bytes.toString('latin1', start, i));
      start = -1;
    }
  }
  return runs.length > 0 ? runs.join('\n') : undefined;
}
