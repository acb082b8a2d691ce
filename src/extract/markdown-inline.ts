/**
 * Inline Markdown → plain text in linear time (docs/design.md, "Linear-time text").
 *
 * One line at a time: code spans keep their content verbatim; link and image
 * syntax is reduced to its text (`[text](url)`, `[text][ref]`, `![alt](src)`),
 * the link targets reported; autolinks `<https://…>` become their URL; `<br>`
 * becomes a newline and other HTML tags are dropped; emphasis, strong and
 * strikethrough markers that pair up are dropped (lone `*` and snake_case
 * stay); backslash escapes are resolved; character references (`&mdash;`,
 * `&#169;`) are decoded, except inside code spans (CommonMark).
 *
 * Every step is a scan with no backtracking: brackets, parentheses and `<`
 * find their partner through "next position of" tables built once per line,
 * code spans through a queue of backtick runs per run length, and emphasis
 * pairs through one stack per marker (each marker is pushed and popped at
 * most once). A regex engine would retry from every `[`, `<` or `*` and scan
 * to the end of the line each time: quadratic on a line of 40,000 of them.
 */
import { decodeHTMLStrict } from 'entities';

const ASCII_PUNCT = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';
const PUNCT = /[\p{P}\p{S}]/u;

function isAsciiPunct(ch: string): boolean {
  return ch.length === 1 && ASCII_PUNCT.includes(ch);
}

/** JavaScript's `\s` (white space and line terminators). */
function isSpace(ch: string | undefined): boolean {
  if (ch === undefined) return false;
  const c = ch.charCodeAt(0);
  return (
    (c >= 0x09 && c <= 0x0d) ||
    c === 0x20 ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

function isPunct(ch: string | undefined): boolean {
  return ch !== undefined && PUNCT.test(ch);
}

/**
 * For every index i, the first index ≥ i whose character satisfies `test`
 * (`text.length` if none): one pass from the right.
 */
function nextIndexTable(text: string, test: (ch: string, i: number) => boolean): Int32Array {
  const next = new Int32Array(text.length + 1);
  next[text.length] = text.length;
  for (let i = text.length - 1; i >= 0; i--) next[i] = test(text[i]!, i) ? i : next[i + 1]!;
  return next;
}

/** Backslashes before `i` that are not themselves escaped: odd means `text[i]` is escaped. */
function isEscaped(text: string, i: number): boolean {
  let n = 0;
  for (let j = i - 1; j >= 0 && text[j] === '\\'; j--) n++;
  return n % 2 === 1;
}

interface CodeSpan {
  /** Index of the opening backtick run. */
  open: number;
  /** Index just past the closing run. */
  end: number;
  /** The span's content (one leading and one trailing space stripped when both are there). */
  text: string;
}

/**
 * Code spans: a backtick run opens one that the next run of the same length
 * closes; a run with no partner is literal text. Runs are visited in order
 * and each length keeps a queue of its runs, so finding a partner never
 * scans: linear in the number of backticks.
 */
function findCodeSpans(text: string): Map<number, CodeSpan> {
  const spans = new Map<number, CodeSpan>();
  if (!text.includes('`')) return spans;
  // A backslash before a run escapes its first backtick when the run opens a span (escapes do not work
  // inside a span, so a closing run keeps its length).
  const runs: Array<{ start: number; len: number; escaped: boolean }> = [];
  for (let i = 0; i < text.length; ) {
    if (text[i] !== '`') {
      i++;
      continue;
    }
    const start = i;
    while (i < text.length && text[i] === '`') i++;
    runs.push({ start, len: i - start, escaped: isEscaped(text, start) });
  }
  const byLength = new Map<number, number[]>();
  runs.forEach((r, k) => {
    const list = byLength.get(r.len);
    if (list) list.push(k);
    else byLength.set(r.len, [k]);
  });
  const cursor = new Map<number, number>();
  let k = 0;
  while (k < runs.length) {
    const run = runs[k]!;
    const openStart = run.escaped ? run.start + 1 : run.start;
    const openLen = run.escaped ? run.len - 1 : run.len;
    const list = openLen > 0 ? byLength.get(openLen) : undefined;
    if (!list) {
      k++;
      continue;
    }
    let c = cursor.get(openLen) ?? 0;
    while (c < list.length && list[c]! <= k) c++;
    cursor.set(openLen, c);
    if (c === list.length) {
      k++;
      continue;
    }
    const closeIndex = list[c]!;
    const close = runs[closeIndex]!;
    let code = text.slice(openStart + openLen, close.start);
    if (code.length >= 2 && code.startsWith(' ') && code.endsWith(' ') && code.trim() !== '') code = code.slice(1, -1);
    spans.set(openStart, { open: openStart, end: close.start + close.len, text: code });
    k = closeIndex + 1;
  }
  return spans;
}

type Piece = string | Delimiter;

interface Delimiter {
  char: '*' | '_' | '~';
  run: string;
  canOpen: boolean;
  canClose: boolean;
  /** Set when the run found its partner: it is dropped from the output. */
  paired: boolean;
}

interface Link {
  /** Index of the link's closing `]`. */
  close: number;
  /** Index just past the whole syntax (`(dest "title")` or `[ref]`). */
  end: number;
  /** The destination, or null for a reference link. */
  href: string | null;
}

/**
 * Links and images of a line, by the index of their `[` (or `!` of `![`):
 * CommonMark's bracket stack. A `]` pairs with the nearest open `[`; if a
 * destination `(url "title")` or a reference `[ref]` follows, both are link
 * syntax, else the `[` stays text. A link cannot contain a link, so the `[`s
 * still open before a link's `]` stay text (images may hold links, links
 * may hold images: `[![badge](img)](url)`). The destination is read through
 * "next position of" tables, so no `(` or `]` is searched for twice.
 */
function findLinks(t: string, codeSpans: Map<number, CodeSpan>): Map<number, Link> {
  const links = new Map<number, Link>();
  const inCode = new Uint8Array(t.length);
  for (const s of codeSpans.values()) inCode.fill(1, s.open, s.end);
  const nextClose = nextIndexTable(t, (ch, i) => ch === ']' && inCode[i] === 0 && !isEscaped(t, i));
  const nextParen = nextIndexTable(t, (ch) => ch === ')');
  const nextSpace = nextIndexTable(t, (ch) => isSpace(ch));
  const nextNonSpace = nextIndexTable(t, (ch) => !isSpace(ch));

  /** The syntax after the `]` at `close`: where it ends and its destination, or null. */
  const after = (close: number): { end: number; href: string | null } | null => {
    if (t[close + 1] === '[') {
      const refClose = nextClose[close + 2]!;
      return refClose < t.length ? { end: refClose + 1, href: null } : null;
    }
    if (t[close + 1] !== '(') return null;
    let p = nextNonSpace[close + 2]!;
    const angle = t[p] === '<';
    if (angle) p++;
    const urlEnd = Math.min(nextSpace[p]!, nextParen[p]!);
    if (urlEnd >= t.length) return null;
    let href = t.slice(p, urlEnd);
    if (angle && href.endsWith('>')) href = href.slice(0, -1);
    if (t[urlEnd] === ')') return { end: urlEnd + 1, href };
    // White space, then `)` or a title in quotes or parentheses and `)`.
    const q = nextNonSpace[urlEnd]!;
    if (t[q] === ')') return { end: q + 1, href };
    if (t[q] !== '"' && t[q] !== "'" && t[q] !== '(') return null;
    const paren = nextParen[q + 1]!;
    if (paren >= t.length) return null;
    let last = paren - 1;
    while (last > q && isSpace(t[last])) last--;
    if (last <= q || (t[last] !== '"' && t[last] !== "'" && t[last] !== ')')) return null;
    return { end: paren + 1, href };
  };

  const openers: Array<{ at: number; image: boolean }> = [];
  // `[`s opened before the last link's `]` cannot start a link.
  let linkFloor = -1;
  let i = 0;
  while (i < t.length) {
    const span = codeSpans.get(i);
    if (span) {
      i = span.end;
      continue;
    }
    const ch = t[i]!;
    if (ch === '\\' && i + 1 < t.length && isAsciiPunct(t[i + 1]!)) {
      i += 2;
      continue;
    }
    if (ch === '[' || (ch === '!' && t[i + 1] === '[')) {
      openers.push({ at: i, image: ch === '!' });
      i += ch === '!' ? 2 : 1;
      continue;
    }
    if (ch === ']' && openers.length > 0) {
      const opener = openers.pop()!;
      const syntax = opener.image || opener.at > linkFloor ? after(i) : null;
      if (syntax) {
        links.set(opener.at, { close: i, ...syntax });
        if (!opener.image) linkFloor = i;
        i = syntax.end;
        continue;
      }
    }
    i++;
  }
  return links;
}

const AUTOLINK = /^(?:https?|mailto):\S+$/i;
const BR_TAG = /^br\s*\/?$/i;
const HTML_TAG = /^\/?[a-z][a-z0-9-]*(?:\s[^<>]*)?$/i;

/**
 * Inline Markdown of one line → plain text.
 * @param onLink called with each link target (raw, not yet resolved) in order
 */
export function plainInline(line: string, onLink: (href: string) => void): string {
  const codeSpans = findCodeSpans(line);
  const links = line.includes('[') ? findLinks(line, codeSpans) : null;
  const nextGt = line.includes('<') ? nextIndexTable(line, (ch) => ch === '>') : null;
  const nextLt = line.includes('<') ? nextIndexTable(line, (ch) => ch === '<') : null;

  const pieces: Piece[] = [];
  // Plain text runs from textStart to the construct being read: kept as one slice, not built char by char.
  let textStart = 0;
  const flushText = (end: number): void => {
    if (end > textStart) pieces.push(decodeText(line.slice(textStart, end)));
  };
  // Text that is neither decoded nor scanned for emphasis (code, escaped characters, URLs).
  const literal = (end: number, s: string): void => {
    flushText(end);
    pieces.push(s);
  };
  // The closing `]` of each link or image met so far → where its syntax ends.
  const linkEnds = new Map<number, number>();
  // Inside a link's text, a tag must end before the link's `]`.
  let linkClose = -1;

  let i = 0;
  while (i < line.length) {
    const ch = line[i]!;
    const span = codeSpans.size > 0 ? codeSpans.get(i) : undefined;
    if (span) {
      literal(i, span.text);
      i = textStart = span.end;
      continue;
    }
    const linkEnd = linkEnds.size > 0 ? linkEnds.get(i) : undefined;
    if (linkEnd !== undefined) {
      flushText(i);
      i = textStart = linkEnd;
      continue;
    }
    const link = links?.get(i);
    if (link) {
      flushText(i);
      // An image's source is no page to crawl; a link's target is.
      if (link.href !== null && ch !== '!') onLink(link.href);
      linkEnds.set(link.close, link.end);
      linkClose = Math.max(linkClose, link.close);
      i = textStart = i + (ch === '!' ? 2 : 1);
      continue;
    }
    if (ch === '\\' && i + 1 < line.length && isAsciiPunct(line[i + 1]!)) {
      literal(i, line[i + 1]!);
      i = textStart = i + 2;
      continue;
    }
    if (ch === '<' && nextGt && nextLt) {
      const gt = nextGt[i + 1]!;
      // A tag ends before the next `<`, and inside a link's text before the link's `]`.
      if (gt < line.length && nextLt[i + 1]! > gt && (i > linkClose || gt < linkClose)) {
        const inner = line.slice(i + 1, gt);
        if (AUTOLINK.test(inner)) {
          onLink(inner);
          literal(i, inner);
          i = textStart = gt + 1;
          continue;
        }
        if (BR_TAG.test(inner)) {
          literal(i, '\n');
          i = textStart = gt + 1;
          continue;
        }
        if (HTML_TAG.test(inner.endsWith('/') ? inner.slice(0, -1) : inner)) {
          flushText(i);
          i = textStart = gt + 1;
          continue;
        }
      }
    }
    if (ch === '*' || ch === '_' || ch === '~') {
      let j = i;
      while (j < line.length && line[j] === ch) j++;
      // Only `~~` is a marker (strikethrough); other runs of `~` are text.
      if (ch !== '~' || j - i === 2) {
        flushText(i);
        pieces.push(delimiter(ch, line.slice(i, j), line[i - 1], line[j]));
        textStart = j;
      }
      i = j;
      continue;
    }
    i++;
  }
  flushText(line.length);
  pairDelimiters(pieces);
  let out = '';
  for (const p of pieces) out += typeof p === 'string' ? p : p.paired ? '' : p.run;
  return out;
}

function decodeText(s: string): string {
  if (!s.includes('&')) return s;
  // A no-break space from &nbsp; reads as a space, as in HTML extraction.
  return decodeHTMLStrict(s.replaceAll('&nbsp;', ' '));
}

/** A run of `*`, `_` or `~~` with CommonMark's flanking rules deciding whether it can open or close. */
function delimiter(
  char: '*' | '_' | '~',
  run: string,
  before: string | undefined,
  after: string | undefined,
): Delimiter {
  const spaceBefore = before === undefined || isSpace(before);
  const spaceAfter = after === undefined || isSpace(after);
  const leftFlanking = !spaceAfter && (!isPunct(after) || spaceBefore || isPunct(before));
  const rightFlanking = !spaceBefore && (!isPunct(before) || spaceAfter || isPunct(after));
  if (char === '_') {
    return {
      char,
      run,
      canOpen: leftFlanking && (!rightFlanking || isPunct(before)),
      canClose: rightFlanking && (!leftFlanking || isPunct(after)),
      paired: false,
    };
  }
  return { char, run, canOpen: leftFlanking, canClose: rightFlanking, paired: false };
}

/**
 * Pairs emphasis markers: a closer pairs with the nearest open run of the
 * same marker and length; open runs of another length above it are given up
 * (they stay literal). One stack per marker, each run pushed and popped at
 * most once: linear.
 */
function pairDelimiters(pieces: Piece[]): void {
  const stacks: Record<Delimiter['char'], Delimiter[]> = { '*': [], _: [], '~': [] };
  for (const p of pieces) {
    if (typeof p === 'string' || (!p.canOpen && !p.canClose)) continue;
    const stack = stacks[p.char];
    if (p.canClose) {
      while (stack.length > 0) {
        const opener = stack.pop()!;
        if (opener.run.length === p.run.length) {
          opener.paired = true;
          p.paired = true;
          break;
        }
      }
      if (p.paired) continue;
    }
    if (p.canOpen) stack.push(p);
  }
}
