/**
 * Counters the emulator keeps so a test can assert what the service would
 * have seen: how many requests, which statuses, how many tokens were
 * admitted, how many 429s of each type, which faults were injected, and the
 * peak usage of any rolling window (to prove a client never exceeded the
 * limits); and for Files / Vector Stores what was uploaded, attached,
 * deleted and searched (e.g. "each unique content uploaded exactly once and
 * exactly one store created").
 */
import { createHash } from 'node:crypto';
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
    /**
     * Requests by route, keyed `"METHOD /v1/path/{param}"` as in the spec,
     * e.g. `{"POST /v1/files": 3, "GET /v1/vector_stores/{vector_store_id}": 1}`;
     * every request counts (rejected, failed and dropped ones too).
     */
    byEndpoint: Record<string, number>;
  };
  /** Requests admitted by the rate limiter (answered 200 unless a slow response was abandoned). */
  requestsAccepted: number;
  /** Inputs (strings or token arrays) in admitted requests. */
  inputsAccepted: number;
  /** cl100k_base tokens in admitted requests (what TPM counts). */
  tokensAccepted: number;
  /**
   * 429 responses: embeddings by body `type`, and `vectorStoreWrites` for
   * the per-store write limit (whose body `type` is also `requests`).
   */
  rateLimited: { requests: number; tokens: number; insufficient_quota: number; vectorStoreWrites: number };
  /** Files (`/v1/files`) since the start or last reset. */
  files: {
    /** Successful uploads. */
    created: number;
    /** Bytes in successful uploads. */
    bytesUploaded: number;
    /** Distinct contents (SHA-256 of the bytes) among the uploads. */
    uniqueContents: number;
    /** Uploads whose exact bytes had been uploaded before (`created - uniqueContents`). */
    duplicateUploads: number;
    /** Deleted with `DELETE /v1/files/{id}`. */
    deleted: number;
    /** Removed by their `expires_after`. */
    expired: number;
  };
  /** Vector stores since the start or last reset. */
  vectorStores: {
    created: number;
    deleted: number;
    /** Expired after `expires_after.days` of inactivity. */
    expired: number;
    /** Successful searches. */
    searches: number;
  };
  /** File batches since the start or last reset. */
  fileBatches: { created: number; cancelled: number };
  /** Attachments of files to stores (single, batch or at store creation) since the start or last reset. */
  vectorStoreFiles: {
    /** Attachments created (a re-attach counts again). */
    attached: number;
    /** Attachments removed (detach, File deleted, store deleted or expired). */
    detached: number;
    /** Attachments that finished processing as completed / failed / cancelled. */
    completed: number;
    failed: number;
    cancelled: number;
  };
  /** What is stored now. */
  storage: {
    files: number;
    fileBytes: number;
    vectorStores: number;
    /** Current attachments over all stores. */
    vectorStoreFiles: number;
  };
  /** The emulator clock (see `advanceClock`). */
  clock: { nowMs: number; offsetMs: number };
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
    /** Per model (limits apply per model, docs/openai-facts.md "Rate limits"). */
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
  rateLimited = { requests: 0, tokens: 0, insufficient_quota: 0, vectorStoreWrites: 0 };
  faults = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  byEndpoint = new Map<string, number>();
  files = { created: 0, bytesUploaded: 0, uniqueContents: 0, duplicateUploads: 0, deleted: 0, expired: 0 };
  vectorStores = { created: 0, deleted: 0, expired: 0, searches: 0 };
  fileBatches = { created: 0, cancelled: 0 };
  vectorStoreFiles = { attached: 0, detached: 0, completed: 0, failed: 0, cancelled: 0 };
  readonly #contentHashes = new Set<string>();

  /** Counts a request to a route, keyed `"METHOD /path/{param}"`. */
  recordEndpoint(key: string): void {
    this.byEndpoint.set(key, (this.byEndpoint.get(key) ?? 0) + 1);
  }

  /** Counts a successful upload of `bytes`. */
  recordUpload(bytes: Buffer): void {
    this.files.created++;
    this.files.bytesUploaded += bytes.length;
    const hash = createHash('sha256').update(bytes).digest('hex');
    if (this.#contentHashes.has(hash)) this.files.duplicateUploads++;
    else {
      this.#contentHashes.add(hash);
      this.files.uniqueContents++;
    }
  }

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
  snapshot(): Omit<EmulatorStats, 'limits' | 'windows' | 'storage' | 'clock'> {
    return {
      since: this.since.toISOString(),
      requests: {
        total: this.total,
        byStatus: Object.fromEntries([...this.byStatus].sort(([a], [b]) => a - b).map(([s, n]) => [String(s), n])),
        byEndpoint: Object.fromEntries([...this.byEndpoint].sort(([a], [b]) => a.localeCompare(b))),
      },
      requestsAccepted: this.requestsAccepted,
      inputsAccepted: this.inputsAccepted,
      tokensAccepted: this.tokensAccepted,
      rateLimited: { ...this.rateLimited },
      faults: { ...this.faults },
      files: { ...this.files },
      vectorStores: { ...this.vectorStores },
      fileBatches: { ...this.fileBatches },
      vectorStoreFiles: { ...this.vectorStoreFiles },
    };
  }
}
