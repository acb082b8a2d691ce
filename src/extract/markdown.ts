/**
 * Markdown and plain text → sectioned plain text.
 *
 * Markdown is split at ATX (`# …`) and setext (`===`/`---` underlined)
 * headings, never inside fenced code. A section's anchor is null unless the
 * source gives one explicitly: `## Title {#id}`, `<a id="x"></a>`/`<a name="x">`
 * in the heading or alone on the line before it (never a generated slug: the
 * renderer's slug rules are unknown). The text is plain: emphasis, code
 * spans, link and image syntax and HTML tags are reduced to their text,
 * character references (`&mdash;`, `&copy;`) decoded; code blocks are kept
 * verbatim without their fences.
 */
import { plainInline } from './markdown-inline.ts';
import { normaliseUrl } from './url.ts';
import { decodeHTMLStrict } from 'entities';
import type { ExtractedDocument, Section } from './types.ts';

// Every line is read by scanners, never by a regex that could backtrack over a long run of one character
// (docs/design.md, "Linear-time text"); inline syntax is src/extract/markdown-inline.ts.

function nameFromUri(uri: string): string {
  let cut = uri.length;
  for (const c of ['?', '#']) {
    const at = uri.indexOf(c);
    if (at >= 0 && at < cut) cut = at;
  }
  const last =
    uri
      .slice(0, cut)
      .split('/')
      .filter((p) => p !== '')
      .pop() ?? uri;
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

const isBlank = (ch: string | undefined): boolean => ch === ' ' || ch === '\t';

/** Index of the first character after up to three leading spaces. */
function indentEnd(line: string): number {
  let i = 0;
  while (i < 3 && line[i] === ' ') i++;
  return i;
}

/** Index just past the run of `ch` starting at `from`. */
function runEnd(line: string, from: number, ch: string): number {
  let i = from;
  while (i < line.length && line[i] === ch) i++;
  return i;
}

/** `line` without trailing spaces and tabs, as an end index. */
function trimBlankEnd(line: string, from: number, end: number): number {
  let e = end;
  while (e > from && isBlank(line[e - 1])) e--;
  return e;
}

/** An ATX heading (`## Title ##`): its level and raw text, or null. */
function atxHeading(line: string): { level: number; raw: string } | null {
  const hashes = indentEnd(line);
  if (line[hashes] !== '#') return null;
  const after = runEnd(line, hashes, '#');
  const level = after - hashes;
  if (level > 6 || (after < line.length && !isBlank(line[after]))) return null;
  let end = trimBlankEnd(line, after, line.length);
  // An optional closing run of #s, after a space or tab (or the whole text).
  let k = end;
  while (k > after && line[k - 1] === '#') k--;
  if (k < end && (k === after || isBlank(line[k - 1]))) end = trimBlankEnd(line, after, k);
  let start = after;
  while (start < end && isBlank(line[start])) start++;
  return { level, raw: line.slice(start, end) };
}

/** A setext underline (`===` or `---`): its level, or 0. */
function setextLevel(line: string): number {
  const i = indentEnd(line);
  const ch = line[i];
  if (ch !== '=' && ch !== '-') return 0;
  const end = runEnd(line, i, ch);
  return trimBlankEnd(line, end, line.length) === end ? (ch === '=' ? 1 : 2) : 0;
}

/** A thematic break: three or more `-`, `*` or `_`, with only spaces and tabs between them. */
function isThematicBreak(line: string): boolean {
  const i = indentEnd(line);
  const ch = line[i];
  if (ch !== '-' && ch !== '*' && ch !== '_') return false;
  let count = 0;
  for (let j = i; j < line.length; j++) {
    if (line[j] === ch) count++;
    else if (!isBlank(line[j])) return false;
  }
  return count >= 3;
}

/** A table's delimiter row: `| --- | :---: |`, at least one pipe. */
function isTableDelimiterRow(line: string): boolean {
  let t = line.trim();
  if (!t.includes('|')) return false;
  if (t.startsWith('|')) t = t.slice(1);
  if (t.endsWith('|')) t = t.slice(0, -1);
  return t.split('|').every((cell) => /^:?-{3,}:?$/.test(cell.trim()));
}

/** The closing fence of an open code block: the fence character, at least as many, then only white space. */
function closesFence(line: string, fence: { char: string; len: number }): boolean {
  const i = indentEnd(line);
  const end = runEnd(line, i, fence.char);
  return end - i >= fence.len && line.slice(end).trim() === '';
}

/** A link reference definition (`[label]: <url> "title"`): its URL, or null. */
function linkDefinition(line: string): string | null {
  const open = indentEnd(line);
  if (line[open] !== '[') return null;
  const close = line.indexOf(']', open + 1);
  if (close <= open + 1 || line[close + 1] !== ':') return null;
  const rest = line.slice(close + 2).trim();
  if (rest === '') return null;
  const space = rest.search(/\s/);
  let href = space < 0 ? rest : rest.slice(0, space);
  const title = space < 0 ? '' : rest.slice(space).trim();
  if (title !== '' && !(/^["'(]/.test(title) && /["')]$/.test(title))) return null;
  if (href.startsWith('<')) href = href.slice(1);
  if (href.endsWith('>')) href = href.slice(0, -1);
  return href === '' ? null : href;
}

/**
 * The first `<a …>` tag of `s` with an `id` or `name` attribute: the
 * attribute's value, and where the tag starts and ends (an `</a>` right
 * after it, white space between, belongs to it). A tag ends at the first
 * `>`; a `<` first means it is no tag, so every character is read once.
 */
function htmlAnchor(s: string): { id: string; start: number; end: number } | null {
  const lower = s.toLowerCase();
  let from = 0;
  for (;;) {
    const start = lower.indexOf('<a', from);
    if (start < 0) return null;
    let gt = start + 2;
    while (gt < s.length && s[gt] !== '>' && s[gt] !== '<') gt++;
    if (gt >= s.length) return null;
    if (s[gt] === '<' || !/\s/.test(s[start + 2] ?? '')) {
      from = s[gt] === '<' ? gt : start + 2;
      continue;
    }
    const m = /\b(?:id|name)\s*=\s*["']([^"']+)["']/i.exec(s.slice(start + 2, gt));
    if (!m) {
      from = gt + 1;
      continue;
    }
    let end = gt + 1;
    const rest = s.slice(end).trimStart();
    if (rest.toLowerCase().startsWith('</a>')) end = s.length - rest.length + 4;
    return { id: m[1]!, start, end };
  }
}

interface Heading {
  level: number;
  text: string;
  anchor: string | null;
}

/** A heading's `{#id}` attribute (Pandoc, kramdown): the last `{#…}` block, closing the text. */
function headingAttribute(s: string): { id: string; at: number } | null {
  if (!s.endsWith('}')) return null;
  const previousClose = s.lastIndexOf('}', s.length - 2);
  const at = s.indexOf('{#', previousClose + 1);
  if (at < 0) return null;
  let end = at + 2;
  while (end < s.length - 1 && s[end] !== '}' && !/\s/.test(s[end]!)) end++;
  return end > at + 2 ? { id: s.slice(at + 2, end), at } : null;
}

function parseHeadingText(raw: string, onLink: (href: string) => void): { text: string; anchor: string | null } {
  let s = raw.trim();
  let anchor: string | null = null;
  const attr = headingAttribute(s);
  if (attr) {
    anchor = attr.id;
    s = s.slice(0, attr.at);
  }
  const html = htmlAnchor(s);
  if (html) {
    anchor ??= html.id;
    s = s.slice(0, html.start) + s.slice(html.end);
  }
  return { text: plainInline(s, onLink).replace(/\s+/g, ' ').trim(), anchor };
}

/** A line holding only an HTML anchor (`<a id="x"></a>`): its id, or null. */
function loneAnchor(line: string): string | null {
  const t = line.trim();
  const a = htmlAnchor(t);
  return a && a.start === 0 && a.end === t.length ? a.id : null;
}

/** Front matter's `title:` value, quotes removed; null for another key. */
function frontMatterTitle(line: string): string | null {
  if (!line.startsWith('title')) return null;
  const rest = line.slice(5).trimStart();
  if (!rest.startsWith(':')) return null;
  const value = rest.slice(1).trim();
  if (value === '') return null;
  const q = value[0];
  return value.length >= 2 && (q === '"' || q === "'") && value.endsWith(q) ? value.slice(1, -1) : value;
}

/**
 * Extracts a Markdown document. Title: `title` if given, else the front
 * matter's `title:`, else the first `#` heading, else `fallbackTitle`, else
 * the last segment of the URI.
 */
export function extractMarkdown(md: string, uri: string, title?: string, fallbackTitle?: string): ExtractedDocument {
  const lines = md
    .replace(/^\uFEFF/, '')
    .replace(/\r\n?/g, '\n')
    .split('\n');
  const links: string[] = [];
  const seen = new Set<string>();
  const onLink = (href: string): void => {
    const abs = normaliseUrl(decodeHTMLStrict(href), uri);
    if (abs && !seen.has(abs)) {
      seen.add(abs);
      links.push(abs);
    }
  };

  // Front matter: only its title is used.
  let frontTitle: string | undefined;
  let start = 0;
  if (lines[0]?.trim() === '---') {
    const end = lines.findIndex((l, i) => i > 0 && (l.trim() === '---' || l.trim() === '...'));
    if (end > 0) {
      for (const l of lines.slice(1, end)) frontTitle = frontMatterTitle(l) ?? frontTitle;
      start = end + 1;
    }
  }

  const sections: Section[] = [];
  const stack: Heading[] = [];
  let current: { headingPath: string[]; anchor: string | null; lines: string[] } = {
    headingPath: [],
    anchor: null,
    lines: [],
  };
  let firstH1: string | undefined;
  let pendingAnchor: string | null = null;

  const close = (): void => {
    const text = current.lines
      .join('\n')
      .replace(/\n{3,}/g, '\n\n')
      .replace(/^\n+/, '')
      .trimEnd();
    if (text.trim() !== '') sections.push({ headingPath: current.headingPath, anchor: current.anchor, text });
  };
  const openHeading = (level: number, raw: string): void => {
    const { text, anchor } = parseHeadingText(raw, onLink);
    if (text === '') return;
    if (level === 1) firstH1 ??= text;
    close();
    while (stack.length > 0 && stack[stack.length - 1]!.level >= level) stack.pop();
    stack.push({ level, text, anchor: anchor ?? pendingAnchor });
    pendingAnchor = null;
    current = { headingPath: stack.map((h) => h.text), anchor: stack[stack.length - 1]!.anchor, lines: [] };
  };

  let fence: { char: string; len: number } | null = null;
  // Lines of the current paragraph, for setext headings.
  let paragraphStart = -1;

  for (let i = start; i < lines.length; i++) {
    const line = lines[i]!;
    if (fence) {
      if (closesFence(line, fence)) {
        fence = null;
        current.lines.push('');
      } else {
        current.lines.push(line);
      }
      continue;
    }
    const open = /^ {0,3}(`{3,}|~{3,})/.exec(line);
    if (open) {
      fence = { char: open[1]![0]!, len: open[1]!.length };
      current.lines.push('');
      paragraphStart = -1;
      continue;
    }
    if (line.trim() === '') {
      current.lines.push('');
      paragraphStart = -1;
      continue;
    }
    // Indented code: verbatim.
    if (/^(?: {4}|\t)/.test(line) && paragraphStart < 0) {
      current.lines.push(line);
      continue;
    }
    const atx = atxHeading(line);
    if (atx) {
      openHeading(atx.level, atx.raw);
      paragraphStart = -1;
      continue;
    }
    const setext = setextLevel(line);
    if (setext > 0 && paragraphStart >= 0) {
      // The paragraph lines above become the heading.
      const count = current.lines.length - paragraphStart;
      const raw = current.lines.splice(paragraphStart, count).join(' ');
      openHeading(setext, raw);
      paragraphStart = -1;
      continue;
    }
    // Thematic breaks and table delimiter rows carry no text.
    if (isThematicBreak(line)) {
      paragraphStart = -1;
      continue;
    }
    if (isTableDelimiterRow(line)) continue;
    // Link reference definitions: keep the target as a link, drop the line.
    const def = linkDefinition(line);
    if (def !== null) {
      onLink(def);
      continue;
    }
    // A lone HTML anchor right before a heading names that heading.
    const anchor = loneAnchor(line);
    if (anchor !== null) {
      pendingAnchor = anchor;
      continue;
    }
    pendingAnchor = null;
    const text = plainInline(line.replace(/^ {0,3}(?:> ?)+/, ''), onLink);
    if (paragraphStart < 0) paragraphStart = current.lines.length;
    current.lines.push(text.trimEnd());
  }
  close();

  return { title: title ?? frontTitle ?? firstH1 ?? fallbackTitle ?? nameFromUri(uri), sections, links };
}

/** Plain text: one section, line endings normalised, no anchor, no links. */
export function extractText(text: string, uri: string, title?: string): ExtractedDocument {
  const body = text
    .replace(/^\uFEFF/, '')
    .replace(/\r\n?/g, '\n')
    .replace(/^(?:[^\S\n]*\n)+/, '')
    .trimEnd();
  const sections: Section[] = body.trim() === '' ? [] : [{ headingPath: [], anchor: null, text: body }];
  return { title: title ?? nameFromUri(uri), sections, links: [] };
}
