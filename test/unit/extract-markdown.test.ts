import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { extractDocument, extractMarkdown, extractText } from '../../src/extract/index.ts';

const md = readFileSync(new URL('../fixtures/extract/guide.md', import.meta.url), 'utf8');

describe('extractMarkdown', () => {
  const doc = extractMarkdown(md, 'https://example.com/docs/guide.md');

  it('takes the title from front matter', () => {
    expect(doc.title).toBe('Markdown Guide');
    expect(extractMarkdown('# Heading One\n\ntext', 'file:///x/a.md').title).toBe('Heading One');
    expect(extractMarkdown('text only', 'file:///x/a.md').title).toBe('a.md');
    expect(extractMarkdown('# H\n\ntext', 'file:///x/a.md', 'Given').title).toBe('Given');
  });

  it('splits at ATX and setext headings, not inside code fences', () => {
    expect(doc.sections.map((s) => [s.headingPath, s.anchor])).toEqual([
      [[], null],
      [['Getting started'], 'start'],
      [['Getting started', 'Options'], 'options'],
      [['Getting started', 'Usage'], null],
    ]);
  });

  it('anchors only from explicit {#id} or <a id>, never slugs', () => {
    const plain = extractMarkdown('# Title\n\ntext\n\n## Sub section\n\nmore', 'file:///x.md');
    expect(plain.sections.map((s) => s.anchor)).toEqual([null, null]);
    const named = extractMarkdown('## A <a name="legacy"></a>\n\ntext', 'file:///x.md');
    expect(named.sections[0]!.anchor).toBe('legacy');
  });

  it('produces plain text: no emphasis, code or link syntax; code blocks verbatim', () => {
    expect(doc.sections[0]!.text).toBe('Intro paragraph with bold and a link.');
    expect(doc.sections[1]!.text).toBe('Install it:\n\n# this is a comment, not a heading\nnpm install sluice');
    expect(doc.sections[2]!.text).toBe('Set MAX_TOKENS to 512.');
    expect(doc.sections[3]!.text).toBe('- one\n- two');
  });

  it('drops the empty "Configure" section', () => {
    expect(doc.sections.some((s) => s.headingPath.includes('Configure'))).toBe(false);
  });

  it('collects absolute http(s) links without fragments', () => {
    expect(doc.links).toEqual(['https://example.com/page']);
    const rel = extractMarkdown(
      '[a](other.md) [b](https://x.org/#y) [c](mailto:a@b)',
      'https://example.com/docs/guide.md',
    );
    expect(rel.links).toEqual(['https://example.com/docs/other.md', 'https://x.org/']);
  });

  it('handles CRLF input', () => {
    const crlf = extractMarkdown('# T\r\n\r\nline one\r\nline two\r\n', 'file:///x.md');
    expect(crlf.sections).toEqual([{ headingPath: ['T'], anchor: null, text: 'line one\nline two' }]);
  });

  it('decodes character references, but not in code spans or after a backslash', () => {
    const d = extractMarkdown('a &mdash; b &copy; 2024 &#169; &amp; `&copy;` \\&copy; &bogus;', 'file:///x.md');
    expect(d.sections[0]!.text).toBe('a — b © 2024 © & &copy; &copy; &bogus;');
  });

  it('reduces nested link syntax: a badge image inside a link, brackets inside link text', () => {
    const d = extractMarkdown(
      '[![build](https://img.example/b.svg)](https://ci.example/run) [a [b] c](https://example.com/x) ![alt][ref]',
      'https://example.com/',
    );
    expect(d.sections[0]!.text).toBe('build a [b] c alt');
    // Image sources are not pages to crawl.
    expect(d.links).toEqual(['https://ci.example/run', 'https://example.com/x']);
  });

  it('code spans win over emphasis and links, and a backslash before a closing backtick is code', () => {
    const d = extractMarkdown('use `*not em*` and `[x](y)` or `\\` *yes*', 'file:///x.md');
    expect(d.sections[0]!.text).toBe('use *not em* and [x](y) or \\ yes');
  });

  it('keeps snake_case and lone asterisks', () => {
    const d = extractMarkdown('use snake_case_name and 2 * 3 * 4', 'file:///x.md');
    expect(d.sections[0]!.text).toBe('use snake_case_name and 2 * 3 * 4');
  });
});

describe('extractText', () => {
  it('is one section without heading or anchor, line endings normalised', () => {
    const doc = extractText('\r\n\r\nfirst\r\n\r\nsecond  \r\n', 'file:///notes/readme.txt');
    expect(doc).toEqual({
      title: 'readme.txt',
      sections: [{ headingPath: [], anchor: null, text: 'first\n\nsecond' }],
      links: [],
    });
  });
  it('an empty text has no sections', () => {
    expect(extractText('  \n ', 'inline:x', 'X').sections).toEqual([]);
  });
});

describe('extractDocument', () => {
  it('dispatches by kind', () => {
    expect(extractDocument('html', '<title>T</title><p>x</p>', 'https://h/').title).toBe('T');
    expect(extractDocument('markdown', '# M\n\nx', 'https://h/a.md').sections[0]!.headingPath).toEqual(['M']);
    expect(extractDocument('text', 'x', 'https://h/a.txt', 'Named').title).toBe('Named');
  });
});
