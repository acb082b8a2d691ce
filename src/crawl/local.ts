/**
 * Local sources: a file, or a directory walked recursively — only under the
 * configured source roots (`SOURCE_ROOTS`; docs/design.md, "Source roots"):
 * a path whose real path (every symbolic link resolved) is outside every
 * root is refused with SourceRootError, so a link such as
 * `notes.md -> /run/secrets/x` is never read. Directories are listed as a
 * stream (one directory entry at a time, `opendir`), so a huge tree never
 * sits in memory, and the listing stops at a file count.
 */
import { constants, type Dir, type Stats } from 'node:fs';
import { lstat, open, opendir, realpath, stat } from 'node:fs/promises';
import { extname, join, relative, resolve, isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { DocumentKind } from '../extract/types.ts';
import { PermanentFetchError, SourceRootError } from '../errors/index.ts';

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

/** Whether `child` is `root` or inside it (both absolute, normalised). */
function isInside(root: string, child: string): boolean {
  const rel = relative(root, child);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** Real paths of the roots (a root that does not exist contains nothing). */
async function realRoots(roots: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const r of roots) {
    const real = await realpath(resolve(r)).catch(() => null);
    if (real) out.push(real);
  }
  return out;
}

/**
 * The real path of `path` (symbolic links resolved) when it is inside one
 * of `roots` (themselves resolved).
 * @throws SourceRootError naming the path, where it leads and the roots; PermanentFetchError when it does not exist
 */
export async function realPathUnderRoots(path: string, roots: readonly string[]): Promise<string> {
  const full = resolve(path);
  let real: string;
  try {
    real = await realpath(full);
  } catch (err) {
    throw ioError(full, 'read', err);
  }
  const resolvedRoots = await realRoots(roots);
  if (resolvedRoots.some((r) => isInside(r, real))) return real;
  const leads = real === full ? '' : ` (a symbolic link to ${real})`;
  throw new SourceRootError(
    full,
    `read ${full}${leads}: outside the source roots (SOURCE_ROOTS=${roots.length ? roots.join(',') : '(none)'}); ` +
      'local files are read only under SOURCE_ROOTS, and symbolic links are not followed out of them: add the directory to SOURCE_ROOTS to index it',
    { reason: 'outside-root' },
  );
}

export interface WalkOptions {
  /** Stop after this many files (the rest of the tree is not listed). */
  maxFiles: number;
}

/**
 * The supported files (.html .htm .md .markdown .txt .rst) of a local
 * source, as absolute paths, streamed: the file itself, or every such file
 * under the directory, skipping hidden files/directories and node_modules,
 * in directory order. Symbolic links to files are listed (reading them
 * checks where they lead); links to directories are not followed (no cycles,
 * nothing outside the tree). Yields at most `maxFiles` paths.
 * @throws PermanentFetchError when the path is missing, unreadable or an unsupported file
 */
export async function* walkLocalSource(path: string, opts: WalkOptions): AsyncGenerator<string> {
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
    yield root;
    return;
  }
  if (!info.isDirectory()) {
    throw new PermanentFetchError(root, `read ${root}: not a regular file or directory`, { reason: 'io' });
  }
  let count = 0;
  const dirs = [root];
  while (dirs.length > 0) {
    const dir = dirs.pop()!;
    let handle: Dir;
    try {
      handle = await opendir(dir, { bufferSize: 64 });
    } catch (err) {
      throw ioError(dir, 'list', err);
    }
    try {
      for await (const e of handle) {
        if (e.name.startsWith('.') || e.name === 'node_modules') continue;
        const full = join(dir, e.name);
        if (e.isDirectory()) {
          dirs.push(full);
        } else if ((e.isFile() || e.isSymbolicLink()) && kindOfPath(full)) {
          if (e.isSymbolicLink() && !(await stat(full).catch(() => null))?.isFile()) continue;
          yield full;
          if (++count >= opts.maxFiles) return;
        }
      }
    } catch (err) {
      if (err instanceof PermanentFetchError) throw err;
      throw ioError(dir, 'list', err);
    }
  }
}

/**
 * Every file of a local source ({@link walkLocalSource}), sorted; at most
 * `maxFiles` (default 100,000).
 */
export async function listLocalSource(path: string, maxFiles = 100_000): Promise<string[]> {
  const out: string[] = [];
  for await (const f of walkLocalSource(path, { maxFiles })) out.push(f);
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
 * With `roots`, the file's real path must be inside one of them; the file is
 * then opened by its real path with O_NOFOLLOW, so a link swapped in after
 * the check is not followed either.
 * @throws SourceRootError (outside the roots), PermanentFetchError naming the path otherwise
 */
export async function readLocalDocument(
  path: string,
  maxBytes: number,
  roots?: readonly string[],
): Promise<LocalDocument> {
  const full = resolve(path);
  const target = roots ? await realPathUnderRoots(full, roots) : full;
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
    const info = await lstat(target).then((l) => (l.isSymbolicLink() ? stat(target) : l));
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
    const fh = await open(target, constants.O_RDONLY | (roots ? constants.O_NOFOLLOW : 0));
    try {
      bytes = await fh.readFile();
    } finally {
      await fh.close();
    }
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
  if (text.includes('\u0000')) {
    // Postgres text cannot hold U+0000, and a text file has none: this is binary with a text extension.
    throw new PermanentFetchError(full, `read ${full}: contains NUL characters (U+0000); it is not a text file`, {
      reason: 'encoding',
    });
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
