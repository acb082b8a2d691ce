import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveSource } from '../../src/ingest/sources.ts';
import { scopeOf } from '../../src/crawl/links.ts';

let dir: string;
let root: string;
let outside: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-sources-'));
  root = join(dir, 'root');
  outside = join(dir, 'outside');
  mkdirSync(join(root, 'docs'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(root, 'docs', 'a.md'), '# A');
  writeFileSync(join(outside, 'secret.md'), 'secret');
  symlinkSync(join(outside, 'secret.md'), join(root, 'docs', 'notes.md'));
  symlinkSync(outside, join(root, 'out-dir'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const opts = () => ({ roots: [root], maxInlineBytes: 100, cwd: root });

describe('resolveSource', () => {
  it('resolves a URL with its scope, dropping the fragment; no host is trusted by naming it', () => {
    const r = resolveSource('http://127.0.0.1:8080/docs/index.html#top', opts());
    expect(r.source).toEqual({
      type: 'url',
      url: 'http://127.0.0.1:8080/docs/index.html',
      scope: 'http://127.0.0.1:8080/docs/',
      depth: 0,
    });
    expect(r).not.toHaveProperty('trustedHost');
  });

  it('resolves an explicit path source under a root to an absolute path', () => {
    expect(resolveSource({ path: 'docs' }, opts()).source).toEqual({ type: 'path', path: join(root, 'docs') });
    expect(resolveSource(pathToFileURL(join(root, 'docs', 'a.md')).href, opts()).source).toEqual({
      type: 'path',
      path: join(root, 'docs', 'a.md'),
    });
  });

  it('never takes a bare string for a path', () => {
    const r = resolveSource('docs', opts());
    expect(r.source).toMatchObject({ type: 'invalid', reason: expect.stringMatching(/a local path must say so/) });
  });

  it('refuses paths outside the roots, and symbolic links leading out of them', () => {
    for (const input of [{ path: outside }, { path: 'docs/notes.md' }, { path: 'out-dir' }, { path: '/etc/passwd' }]) {
      const r = resolveSource(input, opts());
      expect(r.source, JSON.stringify(input)).toMatchObject({
        type: 'invalid',
        error: 'SourceRootError',
        reason: expect.stringMatching(/outside the source roots/),
      });
    }
    expect(resolveSource({ path: 'docs' }, { ...opts(), roots: [] }).source).toMatchObject({
      type: 'invalid',
      reason: expect.stringMatching(/SOURCE_ROOTS=\(none\)/),
    });
  });

  it('resolves an inline JSON document, and refuses one over the byte limit', () => {
    const r = resolveSource('{"id":"a","text":"hello"}', opts());
    expect(r.source).toMatchObject({ type: 'inline', document: { id: 'a', text: 'hello' } });
    expect(r.key).toBe('inline:a');
    expect(resolveSource({ id: 'big', text: 'x'.repeat(101) }, opts()).source).toMatchObject({
      type: 'invalid',
      error: 'OversizeDocumentError',
      reason: expect.stringMatching(/101 bytes, over the limit of 100 bytes \(CRAWL_MAX_BYTES\)/),
    });
  });

  it('refuses URLs with credentials, keeping none of them', () => {
    const r = resolveSource('https://alice:hunter2@example.com/docs/', opts());
    expect(r.source).toMatchObject({ type: 'invalid', error: 'CredentialsInUrlError' });
    expect(JSON.stringify(r)).not.toContain('hunter2');
    expect(JSON.stringify(r)).not.toContain('alice');
  });

  it.each([
    ['/no/such/dir', /a local path must say so/],
    ['{"id": "x", "text": ', /not valid JSON/],
    ['{"text":"no id"}', /inline document/],
    ['ftp://example.com/x', /unsupported scheme ftp:/],
  ])('turns bad input %s into an invalid source with a reason', (input, reason) => {
    const r = resolveSource(input, opts());
    expect(r.source.type).toBe('invalid');
    expect((r.source as { reason: string }).reason).toMatch(reason);
  });

  it('a missing explicit path is named', () => {
    expect(resolveSource({ path: 'nope' }, opts()).source).toMatchObject({
      type: 'invalid',
      reason: expect.stringMatching(/nope: no such file or directory/),
    });
  });

  it('scopes a directory URL to itself', () => {
    expect(scopeOf('http://h/a/b/')).toBe('http://h/a/b/');
    expect(scopeOf('http://h/a/b?x=1')).toBe('http://h/a/');
  });
});
