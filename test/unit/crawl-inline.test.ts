import { describe, expect, it } from 'vitest';
import { InlineDocumentSchema, extractInline } from '../../src/crawl/inline.ts';

describe('InlineDocumentSchema', () => {
  it('accepts exactly one of text, html, markdown', () => {
    expect(InlineDocumentSchema.parse({ id: 'a', text: 'hello', metadata: { n: 1, ok: true, s: 'x' } })).toEqual({
      id: 'a',
      text: 'hello',
      metadata: { n: 1, ok: true, s: 'x' },
    });
    expect(InlineDocumentSchema.safeParse({ id: 'a', html: '<p>x</p>', title: 'T' }).success).toBe(true);
    expect(InlineDocumentSchema.safeParse({ id: 'a', markdown: '# x' }).success).toBe(true);
  });

  it.each([
    [{ text: 'x' }, /id/],
    [{ id: '', text: 'x' }, /id must be a non-empty string/],
    [{ id: 'a' }, /exactly one of text, html or markdown is required/],
    [
      { id: 'a', text: 'x', html: '<p>y</p>' },
      /exactly one of text, html or markdown is allowed \(got text and html\)/,
    ],
    [{ id: 'a', text: '  ' }, /text is empty/],
    [{ id: 'a', text: 'x', metadata: { nested: { no: 1 } } }, /metadata/],
    [{ id: 'a', text: 'x', extra: 1 }, /extra|Unrecognized/i],
  ])('rejects %j', (input, message) => {
    const r = InlineDocumentSchema.safeParse(input);
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toMatch(message);
  });
});

describe('extractInline', () => {
  it('text: one section, title from the document or the id', () => {
    expect(extractInline({ id: 'doc-1', text: 'Hello\r\nworld' })).toEqual({
      title: 'doc-1',
      sections: [{ headingPath: [], anchor: null, text: 'Hello\nworld' }],
      links: [],
    });
    expect(extractInline({ id: 'doc-1', text: 'x', title: 'Given' }).title).toBe('Given');
  });

  it('html: sections, own title, absolute links only', () => {
    const doc = extractInline({
      id: 'docs/page',
      html: '<title>Own</title><h2 id="s">S</h2><p>body <a href="rel.html">r</a> <a href="https://e.com/a#b">a</a></p>',
    });
    expect(doc.title).toBe('Own');
    expect(doc.sections).toEqual([{ headingPath: ['S'], anchor: 's', text: 'body r a' }]);
    expect(doc.links).toEqual(['https://e.com/a']);
    expect(extractInline({ id: 'docs/page', html: '<p>x</p>' }).title).toBe('docs/page');
  });

  it('markdown: sections and title', () => {
    const doc = extractInline({ id: 'm', markdown: '# Head\n\ntext' });
    expect(doc.title).toBe('Head');
    expect(doc.sections).toEqual([{ headingPath: ['Head'], anchor: null, text: 'text' }]);
    expect(extractInline({ id: 'docs/m', markdown: 'text' }).title).toBe('docs/m');
  });
});
