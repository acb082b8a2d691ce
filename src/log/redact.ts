/**
 * Credentials in URLs (`https://user:pass@host/`, `redis://:secret@host`,
 * `https://token@host`) are replaced by `***@` wherever text leaves a
 * process: log lines (src/log/logger.ts), failure reasons kept on jobs and
 * runs (src/runtime/workers.ts, src/runs/tracker.ts) and invalid-source
 * inputs (src/ingest/sources.ts). Metric labels carry no URLs at all
 * (docs/design.md, "Secrets").
 */

/** `scheme://userinfo@`: the userinfo is whatever precedes the first "@" of the authority. */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@"'<>]+@/gi;

/** `text` with the userinfo of every URL in it replaced by `***`. */
export function redactSecrets(text: string): string {
  return text.includes('@') ? text.replace(URL_USERINFO, '$1***@') : text;
}

/** Whether `text` holds a URL with credentials. */
export function hasUrlCredentials(text: string): boolean {
  URL_USERINFO.lastIndex = 0;
  const found = URL_USERINFO.test(text);
  URL_USERINFO.lastIndex = 0;
  return found;
}

/**
 * A copy of `value` with {@link redactSecrets} applied to every string in it
 * (objects and arrays to `depth` levels; Errors by message and stack).
 */
export function redactDeep(value: unknown, depth = 6): unknown {
  if (typeof value === 'string') return redactSecrets(value);
  if (depth <= 0 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, depth - 1));
  if (value instanceof Error) {
    const out: Record<string, unknown> = { type: value.name, message: redactSecrets(value.message) };
    if (value.stack) out.stack = redactSecrets(value.stack);
    for (const [k, v] of Object.entries(value)) out[k] = redactDeep(v, depth - 1);
    return out;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = redactDeep(v, depth - 1);
  return out;
}
