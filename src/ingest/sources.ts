/**
 * Turns what a producer names into crawl sources. A string is an http(s)
 * URL, a `file://` URL, or an inline JSON document; an object is an inline
 * document or a path source `{ path }`. A bare string is never taken for a
 * local path (docs/design.md, "Source roots"): an application forwarding
 * user "URLs" must not index server files. Local paths are accepted only
 * under the source roots (`SOURCE_ROOTS`), by their real path. Anything else
 * becomes an `invalid` source, so the run records a failed job with the
 * reason (and the error's name) instead of dropping it or aborting the rest.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { PAYLOAD_CAPS, type Source } from '../queue/contracts.ts';
import { scopeOf } from '../crawl/links.ts';
import { normaliseUrl } from '../extract/url.ts';
import { InlineDocumentSchema, inlineBody, type InlineDocument } from '../crawl/inline.ts';
import { describeZodError } from '../errors/index.ts';
import { hasUrlCredentials, redactSecrets } from '../log/redact.ts';

/** A local file or directory, named as such: `{ path: "docs/" }` (relative to the current directory). */
export interface PathSource {
  path: string;
}

/** What a producer may name as one source. */
export type SourceInput = string | InlineDocument | PathSource;

export interface ResolvedSource {
  source: Source;
  /** The run-wide key of the first page/file, used for the job id and URL claims. */
  key: string;
  /**
   * The part of the collection this source is responsible for
   * (docs/vocabulary.md, "scope") as a URI prefix: a start URL's directory,
   * a directory's `file://` URI with a trailing slash, or one file's URI.
   * Inline and invalid sources have none.
   */
  scope?: string;
}

export interface ResolveOptions {
  /** Directories local paths may come from (config `sources.roots`); empty: none. */
  roots: readonly string[];
  /** Largest inline document body, bytes (CRAWL_MAX_BYTES). */
  maxInlineBytes: number;
  /** What relative paths resolve against. Default the process's current directory. */
  cwd?: string;
}

const HELP =
  'a source is an http(s) URL, a file:// URL or { path } naming a file or directory under SOURCE_ROOTS, or an inline JSON document {"id", "text"|"html"|"markdown"}';

/** How much of a bad input an invalid source keeps, characters (the payload caps its fields). */
const SHOWN_INPUT = 500;

function invalid(input: string, reason: string, error?: string): ResolvedSource {
  const shown = redactSecrets(input).slice(0, SHOWN_INPUT);
  return {
    source: { type: 'invalid', input: shown, reason: redactSecrets(reason), ...(error ? { error } : {}) },
    // Cut inputs keep their own keys: two long inputs sharing a beginning are two failures, not one.
    key:
      shown.length < input.length
        ? `invalid:${shown}#${createHash('sha256').update(input).digest('hex')}`
        : `invalid:${shown}`,
  };
}

function inline(doc: unknown, input: string, opts: ResolveOptions): ResolvedSource {
  const parsed = InlineDocumentSchema.safeParse(doc);
  if (!parsed.success) {
    return invalid(input, `inline document ${input.slice(0, 80)}: ${describeZodError(parsed.error)} (${HELP})`);
  }
  const bytes = Buffer.byteLength(inlineBody(parsed.data).text);
  if (bytes > opts.maxInlineBytes) {
    return invalid(
      input.slice(0, 200),
      `inline document "${parsed.data.id.slice(0, 80)}": body is ${bytes} bytes, over the limit of ${opts.maxInlineBytes} bytes (CRAWL_MAX_BYTES); split it or raise CRAWL_MAX_BYTES`,
      'OversizeDocumentError',
    );
  }
  return { source: { type: 'inline', document: parsed.data as InlineDocument }, key: `inline:${parsed.data.id}` };
}

function isInside(root: string, child: string): boolean {
  const rel = path.relative(root, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** A path source: it must exist, and its real path must be under a root. */
function localPath(given: string, opts: ResolveOptions): ResolvedSource {
  const abs = path.resolve(opts.cwd ?? process.cwd(), given);
  let real: string;
  try {
    real = fs.realpathSync(abs);
  } catch {
    return invalid(given, `${given}: no such file or directory (${HELP})`);
  }
  const roots = opts.roots.flatMap((r) => {
    try {
      return [fs.realpathSync(r)];
    } catch {
      return [];
    }
  });
  if (!roots.some((r) => isInside(r, real))) {
    const leads = real === abs ? '' : ` (a symbolic link to ${real})`;
    return invalid(
      given,
      `${abs}${leads}: outside the source roots (SOURCE_ROOTS=${opts.roots.length ? opts.roots.join(',') : '(none)'}); local files are read only under SOURCE_ROOTS: add the directory to it`,
      'SourceRootError',
    );
  }
  const uri = pathToFileURL(abs).toString();
  const scope = fs.statSync(real).isDirectory() && !uri.endsWith('/') ? `${uri}/` : uri;
  return { source: { type: 'path', path: abs }, key: uri, scope };
}

function isPathSource(input: object): input is PathSource {
  return 'path' in input && !('id' in input);
}

/** Resolves one producer input. Never throws: bad input becomes an `invalid` source. */
export function resolveSource(input: SourceInput, opts: ResolveOptions): ResolvedSource {
  if (typeof input !== 'string') {
    if (input && typeof input === 'object' && isPathSource(input)) {
      const keys = Object.keys(input);
      if (typeof input.path !== 'string' || input.path.trim() === '' || keys.length !== 1) {
        return invalid(
          JSON.stringify(input),
          `path source ${JSON.stringify(input)}: { path } takes one non-empty string (${HELP})`,
        );
      }
      return localPath(input.path, opts);
    }
    return inline(input, JSON.stringify(input) ?? String(input), opts);
  }
  const text = input.trim();
  if (text.length > PAYLOAD_CAPS.location && !text.startsWith('{')) {
    return invalid(
      text,
      `${text.slice(0, 80)}…: ${text.length} characters, over the limit of ${PAYLOAD_CAPS.location} for a URL`,
    );
  }
  if (text.startsWith('{')) {
    try {
      return inline(JSON.parse(text), text, opts);
    } catch (err) {
      return invalid(text, `inline document is not valid JSON (${(err as Error).message}): ${text.slice(0, 80)}`);
    }
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    if (hasUrlCredentials(text)) {
      return invalid(
        text,
        `${text}: the URL carries credentials (user:password@); Sluice does not log in and does not store secrets — give a public URL`,
        'CredentialsInUrlError',
      );
    }
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return invalid(text, `${text}: not a valid URL (${HELP})`);
    }
    if (url.protocol === 'file:') {
      if (url.host !== '' && url.host !== 'localhost')
        return invalid(text, `${text}: a file:// URL names no remote host (${HELP})`);
      return localPath(decodeURIComponent(url.pathname), opts);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return invalid(text, `${text}: unsupported scheme ${url.protocol} (${HELP})`);
    }
    const href = normaliseUrl(url.href)!; // http(s), checked above
    const scope = scopeOf(href) ?? href;
    return { source: { type: 'url', url: href, scope, depth: 0 }, key: href, scope };
  }
  return invalid(
    text,
    `${text.slice(0, 200)}: not a URL or an inline document; a local path must say so ({ path } in the API, a file:// URL, or a path on the sluice command line) (${HELP})`,
  );
}
