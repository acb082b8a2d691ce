/**
 * The one URL normaliser: every link Sluice extracts, follows or is given
 * goes through it, so a page has one key in run claims, job ids and the
 * documents table whatever way it was reached.
 */

/**
 * The canonical form of a crawlable URL: http(s) only, surrounding white
 * space trimmed, fragment dropped, default port dropped, host lowercased
 * (WHATWG URL parsing).
 * @param url absolute, or relative to `base`
 * @returns the canonical href, or null for anything that is not an http(s) URL
 */
export function normaliseUrl(url: string, base?: string): string | null {
  try {
    const u = base === undefined ? new URL(url.trim()) : new URL(url.trim(), base);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
    u.hash = '';
    return u.href;
  } catch {
    return null;
  }
}
