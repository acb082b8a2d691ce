/**
 * Go-style durations, the format OpenAI uses in `x-ratelimit-reset-requests`,
 * `x-ratelimit-reset-tokens` and in the "Please try again in …" sentence of a
 * 429 body (`docs/openai-facts.md`, "Rate limits": `12ms`, `1s`, `2.812s`,
 * `4m12.172s`, `23h47m36.648s`). The emulator only formats; clients parse
 * (Sluice: `src/openai/go-duration.ts`).
 */

const MS_PER_SECOND = 1000;
const MS_PER_MINUTE = 60 * MS_PER_SECOND;
const MS_PER_HOUR = 60 * MS_PER_MINUTE;

/**
 * Formats a duration in milliseconds the way Go's `time.Duration.String()`
 * does, at millisecond precision: `0s`, `20ms`, `1s`, `2.812s`, `6m0s`,
 * `4m12.172s`, `1h0m0s`.
 *
 * Fractions of a millisecond are rounded **up**, so a client that waits the
 * printed time is never early; negative or non-finite inputs print `0s`
 * (a wait is never negative).
 *
 * @param ms duration in milliseconds
 * @returns the Go duration string
 */
export function formatGoDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms <= 0) return '0s';
  const total = Math.ceil(ms);
  if (total < MS_PER_SECOND) return `${total}ms`;
  const hours = Math.floor(total / MS_PER_HOUR);
  const minutes = Math.floor((total % MS_PER_HOUR) / MS_PER_MINUTE);
  const seconds = formatSeconds(total % MS_PER_MINUTE);
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}

/** `12172` ms → `"12.172"`, `6000` → `"6"`, `2500` → `"2.5"` (Go trims trailing zeros). */
function formatSeconds(ms: number): string {
  const whole = Math.floor(ms / MS_PER_SECOND);
  const frac = ms % MS_PER_SECOND;
  if (frac === 0) return String(whole);
  let digits = String(frac).padStart(3, '0');
  while (digits.endsWith('0')) digits = digits.slice(0, -1);
  return `${whole}.${digits}`;
}
