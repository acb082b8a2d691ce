import { describe, expect, it } from 'vitest';
import { resolveSource } from '../../src/ingest/sources.ts';
import { scopeOf } from '../../src/crawl/links.ts';

describe('resolveSource', () => {
  it('resolves a URL with its scope and trusted host, dropping the fragment', () => {
    const r = resolveSource('http://127.0.0.1:8080/docs/index.html#top');
    expect(r.source).toEqual({
      type: 'url',
      url: 'http://127.0.0.1:8080/docs/index.html',
      scope: 'http://127.0.0.1:8080/docs/',
      depth: 0,
    });
    expect(r.trustedHost).toBe('127.0.0.1');
  });

  it('resolves an existing path to an absolute path', () => {
    const r = resolveSource('test', process.cwd());
    expect(r.source).toMatchObject({ type: 'path' });
  });

  it('resolves an inline JSON document', () => {
    const r = resolveSource('{"id":"a","text":"hello"}');
    expect(r.source).toMatchObject({ type: 'inline', document: { id: 'a', text: 'hello' } });
    expect(r.key).toBe('inline:a');
  });

  it.each([
    ['/no/such/dir', /no such file or directory/],
    ['{"id": "x", "text": ', /not valid JSON/],
    ['{"text":"no id"}', /inline document/],
    ['ftp://example.com/x', /unsupported scheme ftp:/],
  ])('turns bad input %s into an invalid source with a reason', (input, reason) => {
    const r = resolveSource(input);
    expect(r.source.type).toBe('invalid');
    expect((r.source as { reason: string }).reason).toMatch(reason);
  });

  it('scopes a directory URL to itself', () => {
    expect(scopeOf('http://h/a/b/')).toBe('http://h/a/b/');
    expect(scopeOf('http://h/a/b?x=1')).toBe('http://h/a/');
  });
});
