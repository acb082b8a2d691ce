/**
 * HTML → sectioned plain text.
 *
 * - Chrome is removed before reading text: scripts, styles, navigation
 *   (`nav`, `[role=navigation]`, DocBook's `.navheader`/`.navfooter`, tables
 *   of contents, breadcrumbs), page-level `header`/`footer` (those not inside
 *   `article`/`aside`/`main`/`section`), hidden elements, form controls.
 * - The document is split into sections at h1–h6; `headingPath` is the stack
 *   of heading texts (a heading pops every open heading of the same or a
 *   deeper level).
 * - `anchor` is always an id that exists in the page (never a generated slug):
 *   the heading's own id; else the first element id inside the heading; else
 *   the first `<a name>` inside it; else an empty `<a id|name>` right before
 *   it; else the id of the nearest enclosing element whose first heading is
 *   this one (DocBook's `<div class="sect1" id="…"><h2>`); else null.
 *   `html`/`body` ids are not used (they point at the top of the page).
 * - `links` are read from the whole page, chrome included (the navigation is
 *   how a crawler finds the next page).
 */
import { normaliseUrl } from './url.ts';
import { load } from 'cheerio';
import type { ExtractedDocument, Section } from './types.ts';

interface DomNode {
  type: string;
  parent: DomNode | null;
  prev: DomNode | null;
}
interface DomParent extends DomNode {
  children: DomNode[];
}
interface DomElement extends DomParent {
  name: string;
  attribs: Record<string, string | undefined>;
}
interface DomText extends DomNode {
  data: string;
}

const CHROME_SELECTOR = [
  'head',
  'script',
  'style',
  'noscript',
  'template',
  'nav',
  '[role=navigation]',
  '[role=banner]',
  '[role=contentinfo]',
  '[role=search]',
  '.navheader',
  '.navfooter',
  '.breadcrumb',
  '.breadcrumbs',
  '.skip-link',
  '.headerlink',
  '[hidden]',
  '[aria-hidden=true]',
  'svg',
  'canvas',
  'iframe',
  'object',
  'embed',
  'button',
  'select',
  'input',
  'textarea',
].join(', ');

/**
 * Tables of contents are chrome on a content page, but the only content of
 * a contents page (a chapter's start page in DocBook manuals): they are
 * dropped unless dropping them leaves the page with no text at all.
 */
const TOC_SELECTOR = '.toc, #toc';

const HEADING_LEVEL: Readonly<Record<string, number>> = { h1: 1, h2: 2, h3: 3, h4: 4, h5: 5, h6: 6 };

/** Elements that start a new paragraph (blank line) or a new line. */
const PARAGRAPH_BLOCKS = new Set([
  'address',
  'article',
  'aside',
  'blockquote',
  'center',
  'details',
  'dialog',
  'dir',
  'div',
  'dl',
  'fieldset',
  'figure',
  'footer',
  'form',
  'header',
  'hgroup',
  'hr',
  'main',
  'menu',
  'ol',
  'p',
  'section',
  'table',
  'ul',
]);
const LINE_BLOCKS = new Set([
  'br',
  'caption',
  'dd',
  'dt',
  'figcaption',
  'legend',
  'li',
  'summary',
  'tbody',
  'tfoot',
  'thead',
  'tr',
]);

const ASCII_WS = /[ \t\n\r\f]+/g;

function isElement(node: DomNode): node is DomElement {
  return node.type === 'tag' || node.type === 'script' || node.type === 'style';
}

function attr(el: DomElement, name: string): string | null {
  const v = el.attribs[name];
  return v !== undefined && v.trim() !== '' ? v : null;
}

/** Text content; `<br>` becomes a newline. */
function textContent(node: DomNode): string {
  if (node.type === 'text') return (node as DomText).data;
  if (!isElement(node) && node.type !== 'root') return '';
  const el = node as DomElement;
  if (el.name === 'br') return '\n';
  let out = '';
  for (const child of el.children) out += textContent(child);
  return out;
}

function collapse(text: string): string {
  return text
    .replace(ASCII_WS, ' ')
    .replace(/\u00a0/g, ' ')
    .trim();
}

/** Finds the anchor that lives on or inside a heading, or right before it. */
function localAnchor(heading: DomElement): string | null {
  const own = attr(heading, 'id');
  if (own) return own;
  let firstName: string | null = null;
  const stack: DomNode[] = [...heading.children].reverse();
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (!isElement(node)) continue;
    const id = attr(node, 'id');
    if (id) return id;
    if (firstName === null && node.name === 'a') firstName = attr(node, 'name');
    for (let i = node.children.length - 1; i >= 0; i--) stack.push(node.children[i]!);
  }
  if (firstName) return firstName;
  let prev = heading.prev;
  while (prev && prev.type === 'text' && (prev as DomText).data.trim() === '') prev = prev.prev;
  if (prev && isElement(prev) && prev.name === 'a' && collapse(textContent(prev)) === '') {
    return attr(prev, 'id') ?? attr(prev, 'name');
  }
  return null;
}

interface Frame {
  level: number;
  text: string;
  anchor: string | null;
  container: DomNode;
  /** The container's first heading is this one (the container is this heading's own section, e.g. a DocBook sect2). */
  owned: boolean;
  /** The open frames before this heading was seen, restored when its container closes. */
  before: Frame[];
}

const CONTENT_BLOCKS = new Set([...PARAGRAPH_BLOCKS, ...LINE_BLOCKS, 'pre', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6']);
CONTENT_BLOCKS.delete('br');
CONTENT_BLOCKS.delete('hr');

/**
 * The element a heading heads: the nearest ancestor holding block content
 * besides the heading (and wrappers holding only the heading). `header` and
 * `hgroup` are part of the heading, not its container.
 */
function sectionContainer(heading: DomElement, root: DomNode): DomNode {
  let node: DomNode = heading;
  while (node.parent && node !== root) {
    const parent = node.parent as DomElement;
    if (parent === root) return root;
    if (parent.name !== 'header' && parent.name !== 'hgroup') {
      for (const sibling of parent.children) {
        if (sibling !== node && isElement(sibling) && CONTENT_BLOCKS.has(sibling.name)) return parent;
      }
    }
    node = parent;
  }
  return root;
}

function firstHeading(node: DomNode): DomElement | null {
  const stack: DomNode[] = [node];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (n !== node && isElement(n) && HEADING_LEVEL[n.name] !== undefined) return n;
    const children = (n as Partial<DomParent>).children;
    if (children) for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
  }
  return null;
}

function contains(ancestor: DomNode, node: DomNode): boolean {
  for (let n = node.parent; n; n = n.parent) if (n === ancestor) return true;
  return false;
}

/** Accumulates one section's text with HTML-like whitespace rules. */
class TextBuilder {
  #parts: string[] = [];
  #hasText = false;
  #pendingBreak = 0;
  #pendingSpace = false;
  #pendingCellSep = false;
  readonly #table: { cellDepth: number };

  constructor(table: { cellDepth: number }) {
    this.#table = table;
  }

  #separate(): void {
    if (this.#hasText) {
      if (this.#pendingBreak === 2) this.#parts.push('\n\n');
      else if (this.#pendingBreak === 1) this.#parts.push('\n');
      else if (this.#pendingCellSep) this.#parts.push(' | ');
      else if (this.#pendingSpace) this.#parts.push(' ');
    }
    this.#pendingBreak = 0;
    this.#pendingSpace = false;
    this.#pendingCellSep = false;
  }

  inline(raw: string): void {
    let s = raw.replace(ASCII_WS, ' ');
    if (s.startsWith(' ')) {
      this.#pendingSpace = true;
      s = s.slice(1);
    }
    if (s === '') return;
    const trailing = s.endsWith(' ');
    if (trailing) s = s.slice(0, -1);
    this.#separate();
    this.#parts.push(s.replace(/\u00a0/g, ' '));
    this.#hasText = true;
    this.#pendingSpace = trailing;
  }

  verbatim(text: string): void {
    if (this.#table.cellDepth > 0) {
      this.inline(text);
      return;
    }
    if (text.trim() === '') return;
    this.block(2);
    this.#separate();
    this.#parts.push(text);
    this.#hasText = true;
    this.block(2);
  }

  block(level: 1 | 2): void {
    if (this.#table.cellDepth > 0) {
      this.#pendingSpace = true;
      return;
    }
    if (level > this.#pendingBreak) this.#pendingBreak = level;
  }

  cellSeparator(): void {
    this.#pendingCellSep = true;
  }

  finish(): string {
    return this.#parts.join('').trimEnd();
  }
}

function titleFromUrl(pageUrl: string): string {
  try {
    const u = new URL(pageUrl);
    const last = u.pathname.split('/').filter(Boolean).pop();
    return last ? decodeURIComponent(last) : u.host || pageUrl;
  } catch {
    return pageUrl;
  }
}

/**
 * Extracts an HTML page. `fallbackTitle` is used when the page has neither a
 * `<title>` nor a heading (default: the last segment of the URL's path).
 */
export function extractHtml(html: string, pageUrl: string, fallbackTitle?: string): ExtractedDocument {
  const withoutToc = extractHtmlWith(html, pageUrl, fallbackTitle, true);
  return withoutToc.sections.length > 0 ? withoutToc : extractHtmlWith(html, pageUrl, fallbackTitle, false);
}

function extractHtmlWith(
  html: string,
  pageUrl: string,
  fallbackTitle: string | undefined,
  dropToc: boolean,
): ExtractedDocument {
  const $ = load(html);

  // Links first, from the whole page (navigation included).
  let base = pageUrl;
  const baseHref = $('base[href]').first().attr('href');
  if (baseHref) {
    try {
      base = new URL(baseHref.trim(), pageUrl).href;
    } catch {
      try {
        base = new URL(baseHref.trim()).href;
      } catch {
        // keep the page URL
      }
    }
  }
  const links: string[] = [];
  const seen = new Set<string>();
  $('a[href]').each((_, a) => {
    const href = $(a).attr('href');
    if (!href) return;
    const abs = normaliseUrl(href, base);
    if (abs && !seen.has(abs)) {
      seen.add(abs);
      links.push(abs);
    }
  });

  // Anchors on/inside/just before headings, before anything is removed.
  const headingAnchors = new Map<DomElement, string | null>();
  $('h1, h2, h3, h4, h5, h6').each((_, h) => {
    headingAnchors.set(h as unknown as DomElement, localAnchor(h as unknown as DomElement));
  });

  let title = collapse($('title').first().text());

  $(dropToc ? `${CHROME_SELECTOR}, ${TOC_SELECTOR}` : CHROME_SELECTOR).remove();
  $('header, footer')
    .filter((_, el) => $(el).parents('article, aside, main, section').length === 0)
    .remove();

  if (!title) {
    const h1 = $('h1').first();
    title = collapse(h1.length > 0 ? h1.text() : $('h2, h3, h4, h5, h6').first().text());
  }
  if (!title) title = fallbackTitle ?? titleFromUrl(pageUrl);

  const sections: Section[] = [];
  // Open headings. A heading's frame ends at a heading of the same or a
  // higher level, or when its container element closes: the text after a
  // DocBook `<div class="note"><h3>Note</h3>…</div>` belongs to the section
  // that was open before the note, not to "Note".
  let frames: Frame[] = [];
  const firstHeadings = new Map<DomNode, DomElement | null>();
  const firstHeadingIn = (container: DomNode): DomElement | null => {
    let h = firstHeadings.get(container);
    if (h === undefined) {
      h = firstHeading(container);
      firstHeadings.set(container, h);
    }
    return h;
  };
  const table = { cellDepth: 0 };
  let current = { headingPath: [] as string[], anchor: null as string | null, text: new TextBuilder(table) };
  const closeSection = (): void => {
    const text = current.text.finish();
    if (text.trim() !== '') sections.push({ headingPath: current.headingPath, anchor: current.anchor, text });
  };

  // Enclosing elements with an id; `seenHeading` is set once any heading has
  // appeared inside, so only an element's first heading may borrow its id.
  const idScopes: Array<{ id: string; seenHeading: boolean }> = [];
  const rowCells: number[] = [];

  type Exit = { exit: DomElement; pushedId: boolean };
  const root = ($('body')[0] ?? $.root()[0]) as unknown as DomParent;
  const work: Array<DomNode | Exit> = [];
  for (let i = root.children.length - 1; i >= 0; i--) work.push(root.children[i]!);

  while (work.length > 0) {
    const item = work.pop()!;
    if ('exit' in item) {
      const el = item.exit;
      if (item.pushedId) idScopes.pop();
      if (frames.length > 0 && frames[frames.length - 1]!.container === el) {
        while (frames.length > 0 && frames[frames.length - 1]!.container === el)
          frames = frames[frames.length - 1]!.before;
        closeSection();
        const top = frames[frames.length - 1];
        current = { headingPath: frames.map((f) => f.text), anchor: top?.anchor ?? null, text: new TextBuilder(table) };
      }
      const name = el.name;
      if (name === 'td' || name === 'th') table.cellDepth--;
      else if (name === 'tr') rowCells.pop();
      if (PARAGRAPH_BLOCKS.has(name)) current.text.block(2);
      else if (LINE_BLOCKS.has(name)) current.text.block(1);
      continue;
    }
    if (item.type === 'text') {
      current.text.inline((item as DomText).data);
      continue;
    }
    if (!isElement(item)) continue;
    const el = item;
    const name = el.name;

    const level = HEADING_LEVEL[name];
    if (level !== undefined) {
      const text = collapse(textContent(el));
      if (text === '') continue;
      let anchor = headingAnchors.get(el) ?? null;
      // Nearest enclosing id, only if this is the first heading inside it.
      const scope = idScopes[idScopes.length - 1];
      if (anchor === null && scope && !scope.seenHeading) anchor = scope.id;
      for (const s of idScopes) s.seenHeading = true;

      closeSection();
      const before = frames;
      const container = sectionContainer(el, root);
      // A same-or-higher-level heading ends an open one, unless it sits in a
      // box nested inside that heading's own container (a note inside a sect2).
      frames = frames.filter(
        (f) => f.level < level || (f.owned && f.container !== container && contains(f.container, container)),
      );
      const owned = container !== root && firstHeadingIn(container) === el;
      frames.push({ level, text, anchor, container, owned, before });
      current = { headingPath: frames.map((f) => f.text), anchor, text: new TextBuilder(table) };
      continue;
    }

    if (name === 'pre' || name === 'listing' || name === 'xmp' || name === 'plaintext') {
      let text = textContent(el).replace(/\r\n?/g, '\n');
      if (text.startsWith('\n')) text = text.slice(1);
      current.text.verbatim(text.trimEnd());
      continue;
    }

    if (name === 'br') {
      current.text.block(1);
      continue;
    }

    if (PARAGRAPH_BLOCKS.has(name)) current.text.block(2);
    else if (LINE_BLOCKS.has(name)) current.text.block(1);
    if (name === 'tr') {
      rowCells.push(0);
    } else if (name === 'td' || name === 'th') {
      const n = rowCells.length > 0 ? ++rowCells[rowCells.length - 1]! : 1;
      if (n > 1) current.text.cellSeparator();
      table.cellDepth++;
    }

    const id = name === 'body' || name === 'html' ? null : attr(el, 'id');
    if (id) idScopes.push({ id, seenHeading: false });
    work.push({ exit: el, pushedId: id !== null });
    for (let i = el.children.length - 1; i >= 0; i--) work.push(el.children[i]!);
  }
  closeSection();

  return { title, sections, links };
}
