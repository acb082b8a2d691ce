/**
 * Counters the emulator keeps so a test can assert what the service would
 * have seen: how many requests, which statuses, how many tokens were
 * admitted, how many 429s of each type, which faults were injected, and the
 * peak usage of any rolling window (to prove a client never exceeded the
 * limits).
 */
import { FAULT_KINDS, type FaultKind } from './faults.ts';

/** Peak and current usage of one model's rolling window. */
export interface ModelWindowStats {
  /** Most requests admitted in any window of `windowMs` (≤ `rpm` by construction). */
  peakRequests: number;
  /** Most tokens admitted in any window of `windowMs` (≤ `tpm` by construction). */
  peakTokens: number;
  /** Requests in the window ending now. */
  currentRequests: number;
  /** Tokens in the window ending now. */
  currentTokens: number;
}

/** Snapshot returned by `stats()` and `GET /_emulator/stats`. */
export interface EmulatorStats {
  /** When counting started (start or last reset), ISO 8601. */
  since: string;
  /** API requests (under `/v1`), including rejected, failed and dropped ones. */
  requests: {
    total: number;
    /** Responses by HTTP status, e.g. `{"200": 10, "429": 2}`; dropped connections are not here. */
    byStatus: Record<string, number>;
  };
  /** Requests admitted by the rate limiter (answered 200 unless a slow response was abandoned). */
  requestsAccepted: number;
  /** Inputs (strings or token arrays) in admitted requests. */
  inputsAccepted: number;
  /** cl100k_base tokens in admitted requests (what TPM counts). */
  tokensAccepted: number;
  /** 429 responses by body `type`. */
  rateLimited: { requests: number; tokens: number; insufficient_quota: number };
  /** Injected faults by kind. */
  faults: Record<FaultKind, number>;
  /** Limits in force now (peaks are only comparable if they did not change mid-run). */
  limits: { rpm: number; tpm: number; windowMs: number };
  /** Rolling-window figures. */
  windows: {
    /** Max of `peakRequests` over all models. */
    peakRequests: number;
    /** Max of `peakTokens` over all models. */
    peakTokens: number;
    /** Per model (limits apply per model, FACTS.md "Rate limits"). */
    byModel: Record<string, ModelWindowStats>;
  };
}

/** The mutable counters behind {@link EmulatorStats} (windows are kept by the limiter). */
export class StatsCounters {
  since = new Date();
  total = 0;
  byStatus = new Map<number, number>();
  requestsAccepted = 0;
  inputsAccepted = 0;
  tokensAccepted = 0;
  rateLimited = { requests: 0, tokens: 0, insufficient_quota: 0 };
  faults = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;

  /** Counts a response status. */
  recordStatus(status: number): void {
    this.byStatus.set(status, (this.byStatus.get(status) ?? 0) + 1);
  }

  /** Counts an injected fault. */
  recordFault(kind: FaultKind): void {
    this.faults[kind]++;
  }

  /** Counts an admitted request. */
  recordAccepted(inputs: number, tokens: number): void {
    this.requestsAccepted++;
    this.inputsAccepted += inputs;
    this.tokensAccepted += tokens;
  }

  /** Plain-object copy of the counters (without window figures). */
  snapshot(): Omit<EmulatorStats, 'limits' | 'windows'> {
    return {
      since: this.since.toISOString(),
      requests: {
        total: this.total,
        byStatus: Object.fromEntries([...this.byStatus].sort(([a], [b]) => a - b).map(([s, n]) => [String(s), n])),
      },
      requestsAccepted: this.requestsAccepted,
      inputsAccepted: this.inputsAccepted,
      tokensAccepted: this.tokensAccepted,
      rateLimited: { ...this.rateLimited },
      faults: { ...this.faults },
    };
  }
}
