import { readFileSync } from 'node:fs';
import { load } from 'cheerio';
import { describe, expect, it } from 'vitest';
import { extractHtml } from '../../src/extract/index.ts';
import type { ExtractedDocument } from '../../src/extract/index.ts';

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/extract/${name}`, import.meta.url), 'utf8');

/** Every non-null anchor must be an id (or a[name]) present in the page. */
function expectAnchorsExist(html: string, doc: ExtractedDocument): void {
  const $ = load(html);
  const targets = new Set<string>();
  $('[id]').each((_, el) => void targets.add($(el).attr('id')!));
  $('a[name]').each((_, el) => void targets.add($(el).attr('name')!));
  for (const s of doc.sections) if (s.anchor !== null) expect(targets, `anchor ${s.anchor}`).toContain(s.anchor);
}

describe('extractHtml: DocBook page (PostgreSQL manual style)', () => {
  const html = fixture('docbook.html');
  const doc = extractHtml(html, 'https://docs.example.com/guide/indexes-types.html');

  it('takes the title from <title>', () => {
    expect(doc.title).toBe('11.2. Index Types');
  });

  it('splits at headings with the heading stack as path', () => {
    expect(doc.sections.map((s) => s.headingPath)).toEqual([
      ['11.2. Index Types'],
      ['11.2. Index Types', '11.2.1. B-Tree'],
      ['11.2. Index Types', '11.2.1. B-Tree', 'Note'],
      ['11.2. Index Types', '11.2.1. B-Tree'],
      ['11.2. Index Types', '11.2.2. Hash'],
    ]);
  });

  it('uses the id of the enclosing sect div, and null when there is none', () => {
    expect(doc.sections.map((s) => s.anchor)).toEqual([
      'INDEXES-TYPES',
      'INDEXES-TYPES-BTREE',
      null,
      'INDEXES-TYPES-BTREE',
      null,
    ]);
    expectAnchorsExist(html, doc);
  });

  it('text after a note goes back to the enclosing section', () => {
    expect(doc.sections[2]!.text).toBe('A note inside the B-Tree section.');
    expect(doc.sections[3]!.text).toMatch(/^Text after the note belongs to B-Tree again\./);
  });

  it('removes navigation chrome and the table of contents', () => {
    const all = doc.sections.map((s) => s.text).join('\n');
    expect(all).not.toMatch(/\bPrev\b|\bNext\b|\bHome\b|Multicolumn|Chapter 11/);
    expect(doc.sections[0]!.text.startsWith('PostgreSQL provides several index types: B-tree, Hash and bloom.')).toBe(
      true,
    );
  });

  it('keeps <pre> verbatim (indentation, line breaks, inline markup flattened)', () => {
    expect(doc.sections[0]!.text).toContain('\n\nCREATE INDEX name ON table\n    USING HASH (column);');
  });

  it('separates table cells and puts list items on their own lines', () => {
    expect(doc.sections[1]!.text).toContain('< | =\n>= | >');
    expect(doc.sections[3]!.text).toContain('\n\nfirst item\nsecond item');
  });

  it('collects links from the whole page, navigation included, in order and deduplicated', () => {
    expect(doc.links).toEqual([
      'https://docs.example.com/guide/indexes-intro.html',
      'https://docs.example.com/guide/indexes.html',
      'https://docs.example.com/guide/indexes-multicolumn.html',
      'https://docs.example.com/guide/indexes-types.html',
      'https://docs.example.com/guide/bloom.html',
      'https://docs.example.com/guide/index.html',
    ]);
  });
});

describe('extractHtml: anchors, chrome and links', () => {
  const html = fixture('anchors.html');
  const doc = extractHtml(html, 'https://docs.example.com/other/page.html');
  const byHeading = new Map(doc.sections.map((s) => [s.headingPath[s.headingPath.length - 1] ?? '', s]));

  it('collapses whitespace in the title', () => {
    expect(doc.title).toBe('Anchor Fixture');
  });

  it('text before the first heading is a section with an empty path', () => {
    expect(doc.sections[0]).toEqual({
      headingPath: [],
      anchor: null,
      text: 'Intro before any heading, with a relative link.',
    });
  });

  it.each([
    ['Anchor Fixture', 'top-title'], // the heading's own id
    ['Inner id heading', 'inner-id'], // an id inside the heading
    ['Legacy name', 'legacy-name'], // <a name> inside the heading
    ['Preceded by an empty anchor', 'before-anchor'], // <a id></a> right before the heading
    ['Wrapped in a section', 'wrapped'], // enclosing <section id>, first heading in it
    ['Second heading in the same section', null], // the section's id belongs to its first heading
    ['No id anywhere', null], // never a generated slug; <body id> is not used
  ])('anchor of %j is %j', (heading, anchor) => {
    expect(byHeading.get(heading)?.anchor).toBe(anchor);
  });

  it('every anchor exists in the page', () => {
    expectAnchorsExist(html, doc);
  });

  it('nests headings by level and by enclosing section', () => {
    expect(byHeading.get('Second heading in the same section')!.headingPath).toEqual([
      'Anchor Fixture',
      'Wrapped in a section',
      'Second heading in the same section',
    ]);
    expect(byHeading.get('No id anywhere')!.headingPath).toEqual(['Anchor Fixture', 'No id anywhere']);
  });

  it('drops script, style, nav, header, footer, noscript, template and [role=navigation]', () => {
    const all = doc.sections.map((s) => s.text).join('\n');
    for (const gone of [
      'script text',
      'color: red',
      'Site logo',
      'Menu link',
      'Sidebar entry',
      'Copyright',
      'Enable JavaScript',
      'template text',
    ]) {
      expect(all).not.toContain(gone);
    }
  });

  it('drops empty sections and ignores empty headings', () => {
    expect(byHeading.has('Empty section')).toBe(false);
    expect(byHeading.get('No id anywhere')!.text).toBe('Sixth section.\n\nAn empty heading does not start a section.');
  });

  it('formats lists, tables, <br> and <pre>', () => {
    expect(byHeading.get('Lists and tables')!.text).toBe(
      'alpha\nbeta bold\n\nName | Value\na | 1\n\nLine one\nline two\n\n  indented\n    code   with   spaces',
    );
  });

  it('resolves links against <base href>, strips fragments, keeps only http(s), dedupes', () => {
    expect(doc.links).toEqual([
      'https://docs.example.com/',
      'https://docs.example.com/guide/menu.html',
      'https://docs.example.com/guide/sidebar.html',
      'https://docs.example.com/guide/intro.html',
      'https://docs.example.com/guide/',
      'https://other.example.org/x?y=1',
      'https://docs.example.com/legal',
    ]);
  });
});

describe('extractHtml: edge cases', () => {
  it('falls back to the first h1 for the title, then to the URL', () => {
    expect(extractHtml('<h1>Only <b>heading</b></h1><p>x</p>', 'https://h/a/b.html').title).toBe('Only heading');
    expect(extractHtml('<p>no title</p>', 'https://h/a/b.html').title).toBe('b.html');
  });

  it('an empty page has no sections', () => {
    expect(extractHtml('<html><body><nav>menu</nav></body></html>', 'https://h/').sections).toEqual([]);
  });

  it('a heading inside a table cell does not leave the cell state behind', () => {
    const doc = extractHtml(
      '<table><tr><td><h2>In cell</h2>a</td><td>b</td></tr></table><p>after</p><p>next</p>',
      'https://h/',
    );
    expect(doc.sections).toEqual([{ headingPath: ['In cell'], anchor: null, text: 'a | b\n\nafter\n\nnext' }]);
  });

  it('survives very deep nesting', () => {
    const deep = `${'<div>'.repeat(5_000)}deep text${'</div>'.repeat(5_000)}`;
    expect(extractHtml(deep, 'https://h/').sections[0]?.text).toBe('deep text');
  });

  it('does not resolve relative links against a non-hierarchical URI', () => {
    const doc = extractHtml('<a href="x.html">x</a><a href="https://e.com/y">y</a>', 'inline:doc-1');
    expect(doc.links).toEqual(['https://e.com/y']);
  });
});
