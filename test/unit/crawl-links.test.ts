import { describe, expect, it } from 'vitest';
import { looksBinary, sameScope, scopeOf } from '../../src/crawl/links.ts';
import { normaliseUrl } from '../../src/extract/url.ts';

describe('scopeOf / normaliseUrl', () => {
  it.each([
    ['http://h/docs/index.html', 'http://h/docs/'],
    ['http://h/docs/', 'http://h/docs/'],
    ['http://h/docs', 'http://h/'],
    ['HTTP://H:80/Docs/a.html?x=1#f', 'http://h/Docs/'],
    ['https://h:443/', 'https://h/'],
  ])('scope of %s is %s', (start, scope) => {
    expect(scopeOf(start)).toBe(scope);
  });

  it('normalises: no fragment, no default port, lowercase host; http(s) only', () => {
    expect(normaliseUrl('HTTPS://Example.COM:443/a/b.html#frag')).toBe('https://example.com/a/b.html');
    expect(normaliseUrl('http://example.com:8080/a')).toBe('http://example.com:8080/a');
    expect(normaliseUrl('ftp://example.com/')).toBeNull();
    expect(normaliseUrl('not a url')).toBeNull();
    expect(normaliseUrl('../x.html', 'http://h/a/b/c.html')).toBe('http://h/a/x.html');
  });
});

describe('sameScope', () => {
  const start = 'http://h/docs/index.html';
  it.each([
    ['http://h/docs/page.html', true],
    ['http://h/docs/sub/dir/page.html', true],
    ['http://h/docs/page.html#section', true],
    ['http://h:80/docs/page.html', true],
    ['http://h/docs/', true],
    ['http://h/docs', false],
    ['http://h/other/page.html', false],
    ['http://h/docsearch.html', false],
    ['https://h/docs/page.html', false],
    ['http://h:8080/docs/page.html', false],
    ['http://other/docs/page.html', false],
    ['http://h/docs/manual.pdf', false],
    ['http://h/docs/img/logo.PNG', false],
    ['http://h/docs/archive.tar.gz', false],
    ['http://h/docs/style.css', false],
    ['mailto:x@h', false],
    ['not a url', false],
  ])('%s → %s', (candidate, expected) => {
    expect(sameScope(start, candidate)).toBe(expected);
  });

  it('looksBinary only looks at the last path segment', () => {
    expect(looksBinary('http://h/v1.zip/readme.html')).toBe(false);
    expect(looksBinary('http://h/a/b.zip?x=1')).toBe(true);
    expect(looksBinary('http://h/.png')).toBe(false);
  });
});
