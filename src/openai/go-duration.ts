/**
 * Go-style durations as OpenAI sends them in `x-ratelimit-reset-requests`,
 * `x-ratelimit-reset-tokens` and in the "Please try again in …" sentence of a
 * 429 body (`docs/openai-facts.md`, "Rate limits": `12ms`, `1s`, `2.812s`,
 * `4m12.172s`, `23h47m36.648s`). Clients parse; the emulator formats
 * (`formatGoDuration` in `@sluice/openai-emulator`).
 */

const MS_PER_SECOND = 1000;
const MS_PER_MINUTE = 60 * MS_PER_SECOND;
const MS_PER_HOUR = 60 * MS_PER_MINUTE;

/** Unit suffixes accepted by Go's `time.ParseDuration`, in milliseconds. */
const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3, // U+00B5 micro sign
  'μs': 1e-3, // U+03BC Greek mu
  ms: 1,
  s: MS_PER_SECOND,
  m: MS_PER_MINUTE,
  h: MS_PER_HOUR,
};

const COMPONENT = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;

/**
 * Parses a Go duration string (`time.ParseDuration` grammar: an optional sign,
 * then one or more `<decimal><unit>` parts with units ns, us/µs, ms, s, m, h;
 * a bare `0` is allowed) into milliseconds. Used by clients reading
 * `x-ratelimit-reset-*` headers.
 *
 * @param s e.g. `"6m0s"`, `"2.812s"`, `"20ms"`, `"1h2m3.5s"`
 * @returns the duration in milliseconds (may be fractional, e.g. `"1us"` → 0.001)
 * @throws RangeError when `s` is not a valid Go duration
 */
export function parseGoDuration(s: string): number {
  let rest = s.trim();
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest.startsWith('-')) sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') throw new RangeError(`invalid Go duration: ${JSON.stringify(s)}`);
  let total = 0;
  while (rest !== '') {
    const m = COMPONENT.exec(rest);
    if (!m) throw new RangeError(`invalid Go duration: ${JSON.stringify(s)}`);
    const [whole, num, unit] = m;
    total += Number(num) * (UNIT_MS[unit as string] as number);
    rest = rest.slice(whole.length);
  }
  return sign * total;
}
