/**
 * The emulator's HTTP server (node:http). One pipeline for every request, so
 * the cross-cutting behaviour lives in one place:
 *
 * 1. route the request and read the body (413 over `maxBodyBytes`, or the
 *    route's own cap, e.g. uploads); 404 "Invalid URL" for no route;
 * 2. for API routes: count it (total and per endpoint), check the Bearer key
 *    (401), apply the `insufficientQuota` switch to billable routes (429),
 *    then draw a fault (drop / 500 / 503 / slow) if the `faultRoutes`
 *    setting lets faults hit the route (default: every API route);
 * 3. run the handler (or turn its `ApiError` into an OpenAI error body);
 * 4. add the route's own headers (e.g. `x-ratelimit-*`), wait the simulated
 *    latency (`latencyMs + latencyPerTokenMs × billed tokens`, plus `slowMs`
 *    for a slow fault) and send, with `x-request-id` and `openai-processing-ms`
 *    (from when the rate limiter counted the request, else from arrival).
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { authenticate } from './auth.ts';
import { readBody } from './body.ts';
import { ApiError, invalidUrl, malformedJson, serverError } from './errors.ts';
import { faultApplies, pickFault, type FaultKind } from './faults.ts';
import type { HandlerResult, RequestContext, Route } from './http-types.ts';
import { checkQuota } from './rate-limit.ts';
import type { Router } from './router.ts';
import type { EmulatorState } from './state.ts';

/** A server plus a way to abort the delays it is waiting out. */
export interface EmulatorServer {
  server: http.Server;
  /** Cancels pending latency timers (their requests are then dropped) and kills every socket. */
  shutdown(): void;
}

const EMPTY: Buffer = Buffer.alloc(0);

interface Response {
  status: number;
  body: unknown;
  headers: Record<string, string>;
}

/**
 * Creates (does not start) the HTTP server.
 * @param state shared emulator state
 * @param router the routes to serve
 * @param log request log (debug level per request, error level for handler bugs)
 */
export function createEmulatorServer(state: EmulatorState, router: Router, log: Logger): EmulatorServer {
  const delays = new Delays();
  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err }, 'emulator: unhandled error');
      if (!res.headersSent) res.destroy();
    });
  });
  // Idle keep-alive sockets stay open longer than any client keeps them
  // (undici: 4 s; Node's server default is 5 s): when the server closed
  // first, a client reusing the socket at that moment read ECONNRESET, and on
  // a loaded machine that happened to SDK calls with retries off.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = performance.now();
    const requestId = `req_${randomBytes(16).toString('hex')}`;
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', 'http://emulator.invalid');
    const match = router.match(method, url.pathname);
    const route: Route | undefined = match?.route;
    if (route?.api) {
      state.counters.total++;
      state.counters.recordEndpoint(`${method} ${route.path}`);
    }
    let fault: FaultKind | undefined;
    let response: Response | undefined;
    let body: Buffer = EMPTY;
    try {
      body = await readBody(req, route?.maxBodyBytes?.(state.settings) ?? state.settings.maxBodyBytes);
    } catch (err) {
      response = errorResponse(err, log, requestId);
      // The rest of the body is unread: the connection cannot be reused.
      response.headers['connection'] = 'close';
    }
    const ctx = makeContext(req, url, requestId, match?.params ?? {}, body, state, log);
    if (!response) {
      try {
        if (!route) throw invalidUrl(method, url.pathname);
        if (route.api) {
          authenticate(req.headers, state.settings.apiKey);
          if (route.billable) checkQuota(state);
          if (faultApplies(state.settings.faultRoutes, method, route.path))
            fault = pickFault(state.settings, state.random);
          if (fault) state.counters.recordFault(fault);
          if (fault === 'error500' || fault === 'error503') throw serverError(fault === 'error500' ? 500 : 503);
        }
        response = fault === 'drop' ? { status: 0, body: null, headers: {} } : toResponse(await route.handler(ctx));
      } catch (err) {
        response = errorResponse(err, log, requestId);
      }
    }

    if (route && !route.path.startsWith('/v1/embeddings')) {
      // Durable before the client hears of it (persistence.ts); embeddings change no saved state.
      try {
        state.persist();
      } catch (err) {
        log.error({ err, requestId }, 'emulator: saving the state failed');
      }
    }
    if (route?.api) {
      const latency =
        state.settings.latencyMs +
        state.settings.latencyPerTokenMs * ctx.billedTokens +
        (fault === 'slow' ? state.settings.slowMs : 0);
      if (latency > 0 && !(await delays.wait(latency))) return; // shutting down
    }
    if (res.destroyed || req.socket.destroyed) {
      // The client gave up (e.g. timed out on a slow response): nothing is delivered, nothing counted.
      log.debug({ requestId, method, path: url.pathname }, 'emulator: client went away before the response');
      return;
    }
    if (fault === 'drop') {
      log.debug({ requestId, method, path: url.pathname }, 'emulator: dropping connection');
      req.socket.destroy();
      return;
    }
    if (route?.headers) {
      try {
        Object.assign(response.headers, route.headers(ctx));
      } catch (err) {
        log.error({ err, requestId }, 'emulator: route headers hook failed');
      }
    }
    if (route?.api) state.counters.recordStatus(response.status);
    send(res, response, requestId, ctx.countedAt ?? started);
    log.debug({ requestId, method, path: url.pathname, status: response.status, fault }, 'emulator: request');
  }

  return {
    server,
    shutdown() {
      delays.cancelAll();
      server.closeAllConnections();
    },
  };
}

function makeContext(
  req: http.IncomingMessage,
  url: URL,
  requestId: string,
  params: Record<string, string>,
  body: Buffer,
  state: EmulatorState,
  log: Logger,
): RequestContext {
  let parsed: { value: unknown } | undefined;
  const ctx: RequestContext = {
    method: (req.method ?? 'GET').toUpperCase(),
    path: url.pathname,
    query: url.searchParams,
    params,
    headers: req.headers,
    body,
    requestId,
    state,
    log,
    json() {
      if (!parsed) {
        const text = ctx.body.toString('utf8');
        if (text.trim() === '') parsed = { value: undefined };
        else {
          try {
            parsed = { value: JSON.parse(text) };
          } catch {
            throw malformedJson();
          }
        }
      }
      return parsed.value;
    },
    billedTokens: 0,
    locals: {},
  };
  return ctx;
}

function toResponse(result: HandlerResult): Response {
  return { status: result.status ?? 200, body: result.body, headers: { ...result.headers } };
}

function errorResponse(err: unknown, log: Logger, requestId: string): Response {
  if (err instanceof ApiError) return { status: err.status, body: err.body, headers: { ...err.headers } };
  log.error({ err, requestId }, 'emulator: handler failed');
  const e = serverError(500);
  return { status: e.status, body: e.body, headers: {} };
}

/** @param started `performance.now()` that `openai-processing-ms` counts from */
function send(res: http.ServerResponse, response: Response, requestId: string, started: number): void {
  if (res.destroyed || res.headersSent) return;
  const raw = Buffer.isBuffer(response.body) || typeof response.body === 'string';
  const payload = raw ? (response.body as Buffer | string) : JSON.stringify(response.body);
  const headers: Record<string, string | number> = {
    'content-type': raw ? 'application/octet-stream' : 'application/json',
    'openai-version': '2020-10-01',
    ...response.headers,
    'x-request-id': requestId,
    'openai-processing-ms': String(Math.round(performance.now() - started)),
    'content-length': Buffer.byteLength(payload),
  };
  res.writeHead(response.status, headers);
  res.end(payload);
}

/** Cancellable sleeps, so `close()` does not wait out a 30 s slow response. */
class Delays {
  readonly #pending = new Map<NodeJS.Timeout, (completed: boolean) => void>();

  /** Resolves `true` after `ms`, or `false` if cancelled first. */
  wait(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(timer);
        resolve(true);
      }, ms);
      this.#pending.set(timer, resolve);
    });
  }

  cancelAll(): void {
    for (const [timer, resolve] of this.#pending) {
      clearTimeout(timer);
      resolve(false);
    }
    this.#pending.clear();
  }
}
