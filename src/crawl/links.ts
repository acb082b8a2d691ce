/**
 * Crawl scope: which links of a page are followed.
 */
import { normaliseUrl } from '../extract/url.ts';

/** Extensions of files that are never text documents: not followed. */
const BINARY_EXTENSIONS = new Set([
  '7z',
  'apk',
  'avi',
  'bin',
  'bmp',
  'bz2',
  'class',
  'deb',
  'dmg',
  'doc',
  'docx',
  'eot',
  'epub',
  'exe',
  'flac',
  'gif',
  'gz',
  'ico',
  'iso',
  'jar',
  'jpeg',
  'jpg',
  'm4a',
  'm4v',
  'mkv',
  'mov',
  'mp3',
  'mp4',
  'mpeg',
  'mpg',
  'msi',
  'odp',
  'ods',
  'odt',
  'ogg',
  'otf',
  'pdf',
  'png',
  'ppt',
  'pptx',
  'ps',
  'psd',
  'rar',
  'rpm',
  'so',
  'svg',
  'svgz',
  'tar',
  'tgz',
  'tif',
  'tiff',
  'ttf',
  'wasm',
  'wav',
  'webm',
  'webp',
  'woff',
  'woff2',
  'xls',
  'xlsx',
  'xz',
  'zip',
  'zst',
  'css',
  'js',
  'mjs',
  'map',
  'json',
  'xml',
  'rss',
  'atom',
  'csv',
]);

/** The scope of a start URL: its origin and directory, e.g. http://h/docs/index.html → http://h/docs/. */
export function scopeOf(startUrl: string): string | null {
  const n = normaliseUrl(startUrl);
  if (n === null) return null;
  const u = new URL(n);
  u.search = '';
  u.pathname = u.pathname.slice(0, u.pathname.lastIndexOf('/') + 1);
  return u.href;
}

/** True when the URL's path ends in an extension of a binary (or non-document) file. */
export function looksBinary(url: string): boolean {
  let pathname: string;
  try {
    pathname = new URL(url).pathname;
  } catch {
    return false;
  }
  const last = pathname.slice(pathname.lastIndexOf('/') + 1);
  const dot = last.lastIndexOf('.');
  if (dot <= 0) return false;
  return BINARY_EXTENSIONS.has(last.slice(dot + 1).toLowerCase());
}

/**
 * True when `candidateUrl` is in the crawl scope of `startUrl`: same origin
 * (scheme, host, port after normalisation), path under the start URL's
 * directory, and not an obvious binary file.
 */
export function sameScope(startUrl: string, candidateUrl: string): boolean {
  const scope = scopeOf(startUrl);
  const candidate = normaliseUrl(candidateUrl);
  if (scope === null || candidate === null) return false;
  const s = new URL(scope);
  const c = new URL(candidate);
  if (s.origin !== c.origin) return false;
  if (!c.pathname.startsWith(s.pathname)) return false;
  return !looksBinary(candidate);
}
