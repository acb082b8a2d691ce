import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentFetchError } from '../../src/errors/index.ts';
import { listLocalSource, readLocalDocument } from '../../src/crawl/local.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-local-'));
  const files: Record<string, string | Buffer> = {
    'index.html': '<title>x</title><p>hi</p>',
    'b.md': '# B',
    'a.txt': 'plain',
    'notes.rst': 'Title\n=====',
    'image.png': Buffer.from([0x89, 0x50, 0x4e, 0x47]),
    'data.json': '{}',
    '.hidden.md': 'secret',
    '.git/config.txt': 'git',
    'node_modules/pkg/readme.md': 'dep',
    'sub/deeper/page.htm': '<p>deep</p>',
    'sub/UPPER.MD': '# upper',
    'empty.txt': '',
    'blank.md': ' \n\t\n',
    'latin1.txt': Buffer.from([0x63, 0x61, 0x66, 0xe9]),
    'big.txt': 'x'.repeat(2000),
    'crlf.md': '# T\r\n\r\nline\r\n',
  };
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), content);
  }
  symlinkSync(join(dir, 'sub'), join(dir, 'loop-link'));
  symlinkSync(join(dir, 'a.txt'), join(dir, 'link.txt'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('listLocalSource', () => {
  it('walks a directory: supported extensions only, no hidden files or node_modules, sorted', async () => {
    const files = await listLocalSource(dir);
    expect(files.map((f) => f.slice(dir.length + 1))).toEqual([
      'a.txt',
      'b.md',
      'big.txt',
      'blank.md',
      'crlf.md',
      'empty.txt',
      'index.html',
      'latin1.txt',
      'link.txt',
      'notes.rst',
      'sub/UPPER.MD',
      'sub/deeper/page.htm',
    ]);
  });

  it('a single file is itself', async () => {
    expect(await listLocalSource(join(dir, 'b.md'))).toEqual([join(dir, 'b.md')]);
  });

  it('a missing path or an unsupported file is a PermanentFetchError naming the path', async () => {
    const missing = join(dir, 'nope');
    await expect(listLocalSource(missing)).rejects.toThrow(new RegExp(`${missing}: no such file or directory`));
    await expect(listLocalSource(missing)).rejects.toBeInstanceOf(PermanentFetchError);
    await expect(listLocalSource(join(dir, 'image.png'))).rejects.toThrow(/image\.png: unsupported file type "\.png"/);
  });
});

describe('readLocalDocument', () => {
  it('reads text with its kind and file:// URI', async () => {
    expect(await readLocalDocument(join(dir, 'b.md'), 1000)).toEqual({
      uri: pathToFileURL(join(dir, 'b.md')).href,
      kind: 'markdown',
      text: '# B',
    });
    expect((await readLocalDocument(join(dir, 'index.html'), 1000)).kind).toBe('html');
    expect((await readLocalDocument(join(dir, 'notes.rst'), 1000)).kind).toBe('text');
    expect((await readLocalDocument(join(dir, 'link.txt'), 1000)).text).toBe('plain');
  });

  it.each([
    ['empty.txt', /empty\.txt: file is empty/, 'empty'],
    ['blank.md', /blank\.md: file is empty \(whitespace only\)/, 'empty'],
    ['latin1.txt', /latin1\.txt: not valid UTF-8/, 'encoding'],
    ['big.txt', /big\.txt: file is 2000 bytes, over the limit of 1000 bytes/, 'too-large'],
    ['missing.txt', /missing\.txt: no such file or directory/, 'not-found'],
    ['image.png', /image\.png: unsupported file type/, 'content-type'],
  ])('%s → PermanentFetchError', async (name, message, reason) => {
    const err = await readLocalDocument(join(dir, name), 1000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentFetchError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toContain(join(dir, name));
    expect((err as PermanentFetchError).reason).toBe(reason);
  });
});
