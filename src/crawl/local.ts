/**
 * Local sources: a file, or a directory walked recursively.
 */
import type { Dirent, Stats } from 'node:fs';
import { lstat, readdir, readFile, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { DocumentKind } from '../extract/types.ts';
import { PermanentFetchError } from '../errors/index.ts';

const KIND_BY_EXTENSION: Readonly<Record<string, DocumentKind>> = {
  '.html': 'html',
  '.htm': 'html',
  '.md': 'markdown',
  '.markdown': 'markdown',
  '.txt': 'text',
  '.rst': 'text',
};
export const SUPPORTED_EXTENSIONS: readonly string[] = Object.keys(KIND_BY_EXTENSION);

/** The document kind of a file name by its extension, or null when unsupported. */
export function kindOfPath(path: string): DocumentKind | null {
  return KIND_BY_EXTENSION[extname(path).toLowerCase()] ?? null;
}

function ioError(path: string, action: string, err: unknown): PermanentFetchError {
  const code = (err as { code?: string }).code;
  const why =
    code === 'ENOENT'
      ? 'no such file or directory'
      : code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : code === 'EISDIR'
          ? 'is a directory'
          : err instanceof Error
            ? err.message
            : String(err);
  return new PermanentFetchError(path, `${action} ${path}: ${why}; check the path`, {
    reason: code === 'ENOENT' ? 'not-found' : 'io',
    cause: err,
  });
}

/**
 * The files of a local source, as absolute paths, sorted: the file itself,
 * or every supported file (.html .htm .md .markdown .txt .rst) under the
 * directory, skipping hidden files/directories and node_modules. Symbolic
 * links to files are followed, to directories not (no cycles).
 */
export async function listLocalSource(path: string): Promise<string[]> {
  const root = resolve(path);
  let info: Stats;
  try {
    info = await stat(root);
  } catch (err) {
    throw ioError(root, 'read', err);
  }
  if (info.isFile()) {
    if (kindOfPath(root) === null) {
      throw new PermanentFetchError(
        root,
        `read ${root}: unsupported file type "${extname(root) || '(none)'}" (supported: ${SUPPORTED_EXTENSIONS.join(' ')})`,
        { reason: 'content-type' },
      );
    }
    return [root];
  }
  if (!info.isDirectory()) {
    throw new PermanentFetchError(root, `read ${root}: not a regular file or directory`, { reason: 'io' });
  }
  const out: string[] = [];
  const dirs = [root];
  while (dirs.length > 0) {
    const dir = dirs.pop()!;
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      throw ioError(dir, 'list', err);
    }
    for (const e of entries) {
      if (e.name.startsWith('.') || e.name === 'node_modules') continue;
      const full = join(dir, e.name);
      if (e.isDirectory()) {
        dirs.push(full);
      } else if (e.isFile()) {
        if (kindOfPath(full)) out.push(full);
      } else if (e.isSymbolicLink() && kindOfPath(full)) {
        const target = await stat(full).catch(() => null);
        if (target?.isFile()) out.push(full);
      }
    }
  }
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

export interface LocalDocument {
  /** file:// URL of the file. */
  uri: string;
  kind: DocumentKind;
  text: string;
}

/**
 * Reads one local file as text: at most `maxBytes`, valid UTF-8, not blank.
 * Throws PermanentFetchError naming the path otherwise.
 */
export async function readLocalDocument(path: string, maxBytes: number): Promise<LocalDocument> {
  const full = resolve(path);
  const kind = kindOfPath(full);
  if (kind === null) {
    throw new PermanentFetchError(
      full,
      `read ${full}: unsupported file type "${extname(full) || '(none)'}" (supported: ${SUPPORTED_EXTENSIONS.join(' ')})`,
      { reason: 'content-type' },
    );
  }
  let size: number;
  try {
    const info = await lstat(full).then((l) => (l.isSymbolicLink() ? stat(full) : l));
    if (!info.isFile())
      throw Object.assign(new Error('not a regular file'), { code: info.isDirectory() ? 'EISDIR' : 'EINVAL' });
    size = info.size;
  } catch (err) {
    throw ioError(full, 'read', err);
  }
  if (size > maxBytes) {
    throw new PermanentFetchError(
      full,
      `read ${full}: file is ${size} bytes, over the limit of ${maxBytes} bytes; raise maxBytes to index it`,
      { reason: 'too-large' },
    );
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(full);
  } catch (err) {
    throw ioError(full, 'read', err);
  }
  if (bytes.length > maxBytes) {
    throw new PermanentFetchError(
      full,
      `read ${full}: file is ${bytes.length} bytes, over the limit of ${maxBytes} bytes; raise maxBytes to index it`,
      { reason: 'too-large' },
    );
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (err) {
    throw new PermanentFetchError(
      full,
      `read ${full}: not valid UTF-8 (invalid byte sequence); convert the file to UTF-8`,
      { reason: 'encoding', cause: err },
    );
  }
  if (text.trim() === '') {
    throw new PermanentFetchError(
      full,
      `read ${full}: file is empty${bytes.length > 0 ? ' (whitespace only)' : ''}; there is nothing to index`,
      { reason: 'empty' },
    );
  }
  return { uri: pathToFileURL(full).href, kind, text };
}
