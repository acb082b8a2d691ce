/**
 * The contract between the server and endpoint handlers. A new endpoint
 * (Files, Vector Stores, …) is a {@link Route}: the server does body reading,
 * auth, the quota switch, fault injection, latency, common headers, stats and
 * error bodies; the handler only validates, acts and returns a result or
 * throws an `ApiError`.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import type { EmulatorSettings } from './options.ts';
import type { EmulatorState } from './state.ts';

/** What a handler sees of one request. */
export interface RequestContext {
  readonly method: string;
  /** Path without the query string, e.g. `/v1/embeddings`. */
  readonly path: string;
  readonly query: URLSearchParams;
  /** Path parameters from `{name}` placeholders, URL-decoded. */
  readonly params: Readonly<Record<string, string>>;
  readonly headers: IncomingHttpHeaders;
  /** The raw body (≤ `maxBodyBytes` or the route's cap); multipart endpoints parse it themselves. */
  readonly body: Buffer;
  /** `req_…`, also sent as `x-request-id`. */
  readonly requestId: string;
  readonly state: EmulatorState;
  readonly log: Logger;
  /**
   * The body parsed as JSON (parsed once); `undefined` for an empty body.
   * @throws ApiError 400 (the service's "could not parse the JSON body") when it is not JSON
   */
  json(): unknown;
  /** Tokens the request was billed; drives per-token latency. Handlers set it. */
  billedTokens: number;
  /**
   * `performance.now()` when the rate limiter counted the request; handlers
   * of rate-limited routes set it. `openai-processing-ms` runs from here, so
   * a client may take "response time − processing time" as the latest moment
   * the request was counted (src/ratelimit/budget.ts relies on it).
   */
  countedAt?: number;
  /** Scratch space for a handler to pass facts to its route's `headers` hook. */
  readonly locals: Record<string, unknown>;
}

/** A successful (or deliberately non-2xx) handler answer. */
export interface HandlerResult {
  /** HTTP status, default 200. */
  status?: number;
  /**
   * Serialised as JSON (`content-type: application/json`), unless it is a
   * Buffer or string, which is sent as-is with the `content-type` from
   * `headers` (default `application/octet-stream`), e.g. file downloads.
   */
  body: unknown;
  headers?: Record<string, string>;
}

/** Handles one request; throw `ApiError` for an OpenAI-style error response. */
export type Handler = (ctx: RequestContext) => HandlerResult | Promise<HandlerResult>;

/** One endpoint. */
export interface Route {
  /** Upper-case HTTP method. */
  method: 'GET' | 'POST' | 'DELETE' | 'PUT' | 'PATCH';
  /** Path pattern with `{name}` placeholders, e.g. `/v1/files/{file_id}`. */
  path: string;
  /**
   * An OpenAI API route: requires `Authorization: Bearer …`, counts in stats,
   * gets faults and latency. `false` for the emulator's own admin routes.
   */
  api: boolean;
  /** Subject to the `insufficientQuota` switch (billable endpoints such as embeddings). */
  billable?: boolean;
  handler: Handler;
  /**
   * Extra headers for every response of this route, errors and injected
   * faults included, computed just before sending (e.g. `x-ratelimit-*`).
   */
  headers?: (ctx: RequestContext) => Record<string, string>;
  /** Body cap for this route instead of `maxBodyBytes` (e.g. file uploads up to `maxFileBytes`). */
  maxBodyBytes?: (settings: Readonly<EmulatorSettings>) => number;
}
