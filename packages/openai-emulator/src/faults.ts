/**
 * Fault injection: which API requests fail, and how, drawn from a seeded
 * PRNG so a test run is reproducible (same seed + same request order = same
 * faults).
 *
 * Faults are decided after authentication and before the handler runs, so a
 * 500/503 or a dropped connection never consumes rate-limit budget (the
 * service does not bill requests it failed). A `slow` request is different:
 * it is processed and accounted normally and only its response is held back,
 * like a real response that arrives after the client gave up. A client that
 * times out and retries therefore pays twice, as it would with OpenAI.
 */

/** Kinds of injected fault. */
export type FaultKind = 'error500' | 'error503' | 'drop' | 'slow';

/** All fault kinds, for stats. */
export const FAULT_KINDS: readonly FaultKind[] = ['error500', 'error503', 'drop', 'slow'];

/** Fractions (0..1, summing to ≤ 1) of API requests that get each fault. */
export interface FaultRates {
  /** Answered 500 or 503 (half each), `server_error` body. */
  errorRate: number;
  /** Connection destroyed without a response. */
  dropRate: number;
  /** Answered normally but `slowMs` late. */
  slowRate: number;
}

/** A uniform PRNG on [0, 1). */
export type Random = () => number;

/**
 * mulberry32: a tiny, fast 32-bit PRNG; plenty for picking faults.
 * @param seed any integer (only its low 32 bits matter)
 */
export function createRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Picks the fault for one request: one draw against the stacked rates
 * (drop, then error, then slow), and for an error a second draw for 500 vs
 * 503. Always consumes the same number of draws for the same outcome, so
 * the sequence is reproducible from the seed.
 *
 * @returns the fault, or `undefined` for a normal response
 */
export function pickFault(rates: FaultRates, random: Random): FaultKind | undefined {
  const u = random();
  if (u < rates.dropRate) return 'drop';
  if (u < rates.dropRate + rates.errorRate) return random() < 0.5 ? 'error500' : 'error503';
  if (u < rates.dropRate + rates.errorRate + rates.slowRate) return 'slow';
  return undefined;
}

/**
 * Whether faults may hit a route (setting `faultRoutes`).
 * @param faultRoutes null for every API route; else entries `"METHOD /path/{param}"` (one route) or `"/path-prefix"`
 * @param method upper-case HTTP method
 * @param routePath the route's pattern as registered, e.g. `/v1/vector_stores/{vector_store_id}`
 */
export function faultApplies(faultRoutes: readonly string[] | null, method: string, routePath: string): boolean {
  if (faultRoutes === null) return true;
  return faultRoutes.some((entry) => {
    const space = entry.indexOf(' ');
    if (space > 0) {
      return entry.slice(0, space).toUpperCase() === method && entry.slice(space + 1).trim() === routePath;
    }
    const prefix = entry.endsWith('/') ? entry.slice(0, -1) : entry;
    return routePath === prefix || routePath.startsWith(`${prefix}/`);
  });
}
