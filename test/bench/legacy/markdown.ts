// The implementation before issue 18 (commit c7da808), kept for `npm run bench:text`'s "before" column only.
// Its regexes are super-linear on purpose: nothing but test/bench/text.ts may import this file.
/**
 * Markdown and plain text → sectioned plain text.
 *
 * Markdown is split at ATX (`# …`) and setext (`===`/`---` underlined)
 * headings, never inside fenced code. A section's anchor is null unless the
 * source gives one explicitly: `## Title {#id}`, `<a id="x"></a>`/`<a name="x">`
 * in the heading or alone on the line before it (never a generated slug: the
 * renderer's slug rules are unknown). The text is plain: emphasis, code
 * spans, link and image syntax and HTML tags are reduced to their text; code
 * blocks are kept verbatim without their fences.
 */
import { normaliseUrl } from '../../../src/extract/url.ts';
import type { ExtractedDocument, Section } from '../../../src/extract/types.ts';

const ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (m, e: string) => {
    if (e[0] === '#') {
      const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return Number.isFinite(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : m;
    }
    return ENTITIES[e.toLowerCase()] ?? m;
  });
}

function nameFromUri(uri: string): string {
  const path = uri.replace(/[?#].*$/, '');
  const last = path.split('/').filter(Boolean).pop() ?? uri;
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

const HTML_ANCHOR = /<a\s[^>]*?\b(?:id|name)\s*=\s*["']([^"']+)["'][^>]*>\s*(?:<\/a>)?/i;

/** Inline markdown → plain text; collects link targets. */
function plainInline(line: string, onLink: (href: string) => void): string {
  const codeSpans: string[] = [];
  let s = line.replace(/(`+)([\s\S]*?[^`])\1(?!`)/g, (_m, _ticks: string, code: string) => {
    codeSpans.push(code.trim() === '' ? code : code.replace(/^ (.*) $/, '$1'));
    return `\u0000${codeSpans.length - 1}\u0000`;
  });
  // Images, then inline links [text](url "title"), then reference links.
  s = s.replace(/!\[([^\]]*)\]\(([^)\s]*)(?:\s+["'(][^)]*["')])?\)/g, '$1');
  s = s.replace(/\[([^\]]*)\]\(\s*<?([^)\s>]*)>?(?:\s+["'(][^)]*["')])?\s*\)/g, (_m, text: string, href: string) => {
    if (href) onLink(href);
    return text;
  });
  s = s.replace(/\[([^\]]+)\]\[[^\]]*\]/g, '$1');
  s = s.replace(/<((?:https?|mailto):[^>\s]+)>/gi, (_m, url: string) => {
    onLink(url);
    return url;
  });
  s = s.replace(/<br\s*\/?>/gi, '\n');
  s = s.replace(/<\/?[a-z][a-z0-9-]*(?:\s[^<>]*)?\/?>/gi, '');
  s = s.replace(/(\*\*|__)(?=\S)([\s\S]*?\S)\1/g, '$2');
  s = s.replace(/(^|[^\w*])\*(?=\S)([^*]*?\S)\*(?!\w)/g, '$1$2');
  s = s.replace(/(^|[^\w])_(?=\S)([^_]*?\S)_(?![\w])/g, '$1$2');
  s = s.replace(/~~(?=\S)([\s\S]*?\S)~~/g, '$1');
  s = s.replace(/\\([\\`*_{}[\]()#+\-.!|>~<"'])/g, '$1');
  s = decodeEntities(s);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: NUL delimits the code-span placeholders set above (no text has one).
  return s.replace(/\u0000(\d+)\u0000/g, (_m, i: string) => codeSpans[Number(i)] ?? '');
}

interface Heading {
  level: number;
  text: string;
  anchor: string | null;
}

function parseHeadingText(raw: string, onLink: (href: string) => void): { text: string; anchor: string | null } {
  let s = raw.trim();
  let anchor: string | null = null;
  const attr = /\s*\{#([^\s}]+)[^}]*\}\s*$/.exec(s);
  if (attr) {
    anchor = attr[1]!;
    s = s.slice(0, attr.index);
  }
  const html = HTML_ANCHOR.exec(s);
  if (html) {
    anchor ??= html[1]!;
    s = s.replace(HTML_ANCHOR, '');
  }
  return { text: plainInline(s, onLink).replace(/\s+/g, ' ').trim(), anchor };
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
    const abs = normaliseUrl(decodeEntities(href), uri);
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
      for (const l of lines.slice(1, end)) {
        const m = /^title\s*:\s*(.+?)\s*$/.exec(l);
        if (m) frontTitle = m[1]!.replace(/^(["'])(.*)\1$/, '$2');
      }
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
      const close = new RegExp(`^ {0,3}${fence.char === '`' ? '`' : '~'}{${fence.len},}\\s*$`);
      if (close.test(line)) {
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
    const atx = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/.exec(line);
    if (atx) {
      openHeading(atx[1]!.length, atx[2] ?? '');
      paragraphStart = -1;
      continue;
    }
    const setext = /^ {0,3}(=+|-+)[ \t]*$/.exec(line);
    if (setext && paragraphStart >= 0) {
      // The paragraph lines above become the heading.
      const count = current.lines.length - paragraphStart;
      const raw = current.lines.splice(paragraphStart, count).join(' ');
      openHeading(setext[1]![0] === '=' ? 1 : 2, raw);
      paragraphStart = -1;
      continue;
    }
    // Thematic breaks and table delimiter rows carry no text.
    if (/^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/.test(line)) {
      paragraphStart = -1;
      continue;
    }
    if (/^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/.test(line) && line.includes('|')) continue;
    // Link reference definitions: keep the target as a link, drop the line.
    const def = /^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+["'(].*["')])?\s*$/.exec(line);
    if (def) {
      onLink(def[1]!);
      continue;
    }
    // A lone HTML anchor right before a heading names that heading.
    const loneAnchor = /^\s*<a\s[^>]*?\b(?:id|name)\s*=\s*["']([^"']+)["'][^>]*>\s*(?:<\/a>)?\s*$/i.exec(line);
    if (loneAnchor) {
      pendingAnchor = loneAnchor[1]!;
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
