/**
 * Rolling-window rate limiting (RPM and TPM), as OpenAI applies it per
 * organization and per model (docs/openai-facts.md, "Rate limits"; defaults tier 1:
 * 3,000 RPM / 1,000,000 TPM). A request is admitted only if, counting it, the
 * requests and the tokens accepted in the last `windowMs` stay within the
 * limits; a rejected request consumes nothing.
 *
 * Window convention: an accepted request at time `t` counts for every `now`
 * with `t > now - windowMs`, i.e. it leaves the window exactly at
 * `t + windowMs`. {@link peakOverWindows} uses the same convention, so the
 * peaks it reports can be compared with the limits directly.
 *
 * All times are milliseconds on one monotonic clock chosen by the caller.
 */

/** One admitted request in the log. */
export interface AcceptedRequest {
  /** When it was admitted, ms. */
  at: number;
  /** Tokens it consumed (cl100k_base, summed over its inputs). */
  tokens: number;
}

/** Peak usage of any rolling window, see {@link peakOverWindows}. */
export interface WindowPeak {
  /** Most requests admitted in any window. */
  peakRequests: number;
  /** Most tokens admitted in any window. */
  peakTokens: number;
}

/**
 * The exact peak usage over all rolling windows of `windowMs`: the maximum,
 * over every accepted request, of what the window ending at that request
 * holds. (Usage only rises when a request is admitted, so these windows
 * contain the maximum.) Two pointers, O(n).
 *
 * @param log accepted requests in non-decreasing `at` order
 * @param windowMs window length, ms (> 0)
 */
export function peakOverWindows(log: readonly AcceptedRequest[], windowMs: number): WindowPeak {
  let peakRequests = 0;
  let peakTokens = 0;
  let start = 0;
  let tokens = 0;
  for (let end = 0; end < log.length; end++) {
    const e = log[end] as AcceptedRequest;
    tokens += e.tokens;
    while ((log[start] as AcceptedRequest).at <= e.at - windowMs) {
      tokens -= (log[start] as AcceptedRequest).tokens;
      start++;
    }
    peakRequests = Math.max(peakRequests, end - start + 1);
    peakTokens = Math.max(peakTokens, tokens);
  }
  return { peakRequests, peakTokens };
}

/** Limits applied to one window. */
export interface WindowLimits {
  /** Requests per window (RPM when the window is 60,000 ms). */
  rpm: number;
  /** Tokens per window (TPM when the window is 60,000 ms). */
  tpm: number;
  /** Window length, ms. */
  windowMs: number;
}

/** Outcome of {@link RollingWindow.tryAdmit}. */
export type Admission =
  | { ok: true }
  | {
      ok: false;
      /** Which limit refused: `requests` (RPM) or `tokens` (TPM). */
      kind: 'requests' | 'tokens';
      limit: number;
      /** Usage in the window at the time of the decision. */
      used: number;
      requested: number;
      /**
       * How long until the same request would be admitted, ms (exact for a
       * rolling window: when enough old entries have left it). `undefined`
       * when it never can be (it alone needs more tokens than the limit).
       */
      retryAfterMs: number | undefined;
    };

/** Current usage of a window, for the `x-ratelimit-*` headers. */
export interface WindowUsage {
  requests: number;
  tokens: number;
  /** Time until the window is empty again ("resets to its initial state"), ms; 0 when empty. */
  resetMs: number;
}

/**
 * The admitted-request log of one model, bounded to the entries still inside
 * the window, plus the running peaks. Peaks are updated on each admission
 * from the window that ends at it, which equals {@link peakOverWindows} over
 * the full history (as long as `windowMs` is not changed mid-run).
 */
export class RollingWindow {
  #at: number[] = [];
  #tokens: number[] = [];
  #head = 0;
  #sumTokens = 0;
  #peakRequests = 0;
  #peakTokens = 0;

  /** Most requests ever admitted within one window. */
  get peakRequests(): number {
    return this.#peakRequests;
  }

  /** Most tokens ever admitted within one window. */
  get peakTokens(): number {
    return this.#peakTokens;
  }

  /** Usage of the window ending at `now`. */
  usage(now: number, windowMs: number): WindowUsage {
    this.#expire(now, windowMs);
    const requests = this.#at.length - this.#head;
    const newest = this.#at[this.#at.length - 1];
    const resetMs = requests > 0 && newest !== undefined ? Math.max(0, newest + windowMs - now) : 0;
    return { requests, tokens: this.#sumTokens, resetMs };
  }

  /**
   * Admits a request of `tokens` at `now` if both limits allow it (recording
   * it), else reports which limit refused and when to retry. RPM is checked
   * first, as a request that is refused for RPM never reaches the token count.
   */
  tryAdmit(now: number, tokens: number, limits: WindowLimits): Admission {
    const { requests, tokens: used } = this.usage(now, limits.windowMs);
    if (requests + 1 > limits.rpm) {
      return {
        ok: false,
        kind: 'requests',
        limit: limits.rpm,
        used: requests,
        requested: 1,
        retryAfterMs: this.#waitForRequests(now, limits),
      };
    }
    if (used + tokens > limits.tpm) {
      return {
        ok: false,
        kind: 'tokens',
        limit: limits.tpm,
        used,
        requested: tokens,
        retryAfterMs: tokens > limits.tpm ? undefined : this.#waitForTokens(now, tokens, limits),
      };
    }
    this.#at.push(now);
    this.#tokens.push(tokens);
    this.#sumTokens += tokens;
    this.#peakRequests = Math.max(this.#peakRequests, requests + 1);
    this.#peakTokens = Math.max(this.#peakTokens, this.#sumTokens);
    return { ok: true };
  }

  /** Entries admitted before `now`, oldest first (for tests and debugging). */
  entries(): AcceptedRequest[] {
    const out: AcceptedRequest[] = [];
    for (let i = this.#head; i < this.#at.length; i++) {
      out.push({ at: this.#at[i] as number, tokens: this.#tokens[i] as number });
    }
    return out;
  }

  /** Ms until the oldest entries have left so that one more request fits. */
  #waitForRequests(now: number, limits: WindowLimits): number {
    const count = this.#at.length - this.#head;
    // Entries [head, head + k) must leave, where count - k + 1 <= rpm.
    const k = count + 1 - limits.rpm;
    const at = this.#at[this.#head + k - 1] as number;
    return Math.max(0, at + limits.windowMs - now);
  }

  /** Ms until enough old tokens have left for `tokens` more to fit. */
  #waitForTokens(now: number, tokens: number, limits: WindowLimits): number {
    let sum = this.#sumTokens;
    for (let i = this.#head; i < this.#at.length; i++) {
      sum -= this.#tokens[i] as number;
      if (sum + tokens <= limits.tpm) return Math.max(0, (this.#at[i] as number) + limits.windowMs - now);
    }
    return 0;
  }

  /** Drops entries that have left the window; compacts the arrays now and then. */
  #expire(now: number, windowMs: number): void {
    const cutoff = now - windowMs;
    while (this.#head < this.#at.length && (this.#at[this.#head] as number) <= cutoff) {
      this.#sumTokens -= this.#tokens[this.#head] as number;
      this.#head++;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#at.length) {
      this.#at = this.#at.slice(this.#head);
      this.#tokens = this.#tokens.slice(this.#head);
      this.#head = 0;
    }
  }
}
