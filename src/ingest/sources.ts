/**
 * Turns what a producer names into crawl sources. A string is an http(s)
 * URL, a local path, or an inline JSON document; an object is an inline
 * document. Anything else becomes an `invalid` source, so the run records a
 * failed job with the reason instead of dropping it or aborting the rest.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Source } from '../queue/contracts.ts';
import { scopeOf } from '../crawl/links.ts';
import { normaliseUrl } from '../extract/url.ts';
import { InlineDocumentSchema, type InlineDocument } from '../crawl/inline.ts';
import { describeZodError } from '../errors/index.ts';

export interface ResolvedSource {
  source: Source;
  /** The run-wide key of the first page/file, used for the job id and URL claims. */
  key: string;
  /** A host the producer named itself (trusted by the SSRF guard). */
  trustedHost?: string;
  /**
   * The part of the collection this source is responsible for
   * (docs/vocabulary.md, "scope") as a URI prefix: a start URL's directory,
   * a directory's `file://` URI with a trailing slash, or one file's URI.
   * Inline and invalid sources have none.
   */
  scope?: string;
}

const HELP =
  'a source is an http(s) URL, a local file or directory, or an inline JSON document {"id", "text"|"html"|"markdown"}';

function inline(doc: unknown, input: string): ResolvedSource {
  const parsed = InlineDocumentSchema.safeParse(doc);
  if (!parsed.success) {
    return {
      source: {
        type: 'invalid',
        input,
        reason: `inline document ${input.slice(0, 80)}: ${describeZodError(parsed.error)} (${HELP})`,
      },
      key: `invalid:${input}`,
    };
  }
  return { source: { type: 'inline', document: parsed.data as InlineDocument }, key: `inline:${parsed.data.id}` };
}

/** Resolves one producer input. Never throws: bad input becomes an `invalid` source. */
export function resolveSource(input: string | InlineDocument, cwd = process.cwd()): ResolvedSource {
  if (typeof input !== 'string') return inline(input, JSON.stringify(input));
  const text = input.trim();
  if (text.startsWith('{')) {
    try {
      return inline(JSON.parse(text), text);
    } catch (err) {
      return {
        source: {
          type: 'invalid',
          input: text,
          reason: `inline document is not valid JSON (${(err as Error).message}): ${text.slice(0, 80)}`,
        },
        key: `invalid:${text}`,
      };
    }
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return {
        source: { type: 'invalid', input: text, reason: `${text}: not a valid URL (${HELP})` },
        key: `invalid:${text}`,
      };
    }
    if (url.protocol === 'file:') return resolveSource(decodeURIComponent(url.pathname), cwd);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return {
        source: { type: 'invalid', input: text, reason: `${text}: unsupported scheme ${url.protocol} (${HELP})` },
        key: `invalid:${text}`,
      };
    }
    const href = normaliseUrl(url.href)!; // http(s), checked above
    const scope = scopeOf(href) ?? href;
    return {
      source: { type: 'url', url: href, scope, depth: 0 },
      key: href,
      trustedHost: url.hostname,
      scope,
    };
  }
  const abs = path.resolve(cwd, text);
  if (!fs.existsSync(abs)) {
    return {
      source: { type: 'invalid', input: text, reason: `${text}: no such file or directory (${HELP})` },
      key: `invalid:${text}`,
    };
  }
  const uri = pathToFileURL(abs).toString();
  const scope = fs.statSync(abs).isDirectory() && !uri.endsWith('/') ? `${uri}/` : uri;
  return { source: { type: 'path', path: abs }, key: uri, scope };
}
