/**
 * The HTTP endpoint of a Sluice process for Prometheus and probes:
 * - `GET /metrics`: the text exposition of {@link registry};
 * - `GET /healthz`: liveness. 200 whenever the event loop answers; it never
 *   looks at Redis or Postgres, so a liveness probe does not restart every
 *   worker during a database outage (the workers wait it out themselves);
 * - `GET /readyz`: readiness. 200 only when the process can make progress
 *   (its `ready` check: dependencies answer, workers fetch), else 503 with
 *   the reason. For reporting and load balancing, not for restarts.
 *
 * Plain node:http rather than a framework: two routes do not justify a
 * dependency, and this server must keep answering while the worker is busy.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { registry } from './metrics.ts';

/** The result of a readiness check: `ok` decides 200 or 503; `checks` says why (e.g. `{ redis: 'ok', postgres: 'down for 12 s: ECONNREFUSED' }`). */
export interface HealthReport {
  ok: boolean;
  checks: Record<string, string>;
}

/** What the server logs through; a pino logger fits. */
export interface MetricsServerLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Options of {@link startMetricsServer}. */
export interface MetricsServerOptions {
  /**
   * Interface to bind. Default `127.0.0.1`: metrics are not for the world.
   * In a container set `0.0.0.0` (METRICS_HOST) so Prometheus can reach it.
   */
  host?: string;
  /** TCP port; 0 picks a free one (see the returned `port`). */
  port: number;
  /** Called on every `GET /readyz`; a throw or a timeout counts as not ready. */
  ready: () => Promise<HealthReport> | HealthReport;
  logger: MetricsServerLogger;
  /** Deadline for `ready()`, ms; past it /readyz answers 503. Default 5000 (below Docker's default probe timeout of 30 s). */
  readyTimeoutMs?: number;
}

/** A running metrics server. */
export interface MetricsServer {
  /** The bound port (the real one when 0 was asked). */
  port: number;
  /** Stops accepting, ends idle keep-alive sockets at once and the rest after in-flight responses; resolves when closed. */
  close(): Promise<void>;
}

/**
 * Starts the metrics and health server.
 * @throws (rejects) when the port cannot be bound, e.g. EADDRINUSE.
 */
export async function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const { logger } = opts;
  const host = opts.host ?? '127.0.0.1';
  const readyTimeoutMs = opts.readyTimeoutMs ?? 5000;
  const startedAt = Date.now();

  const server = http.createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      // Only reached if writing the response itself failed.
      logger.error({ err }, 'metrics server: request failed');
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path !== '/metrics' && path !== '/healthz' && path !== '/readyz') {
      send(res, 404, 'text/plain; charset=utf-8', 'Not found. Try /metrics, /healthz or /readyz.\n');
      return;
    }
    // HEAD is answered like GET; node drops the body itself.
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      send(res, 405, 'text/plain; charset=utf-8', 'Method not allowed.\n');
      return;
    }
    if (path === '/metrics') {
      let body: string;
      try {
        body = await registry.metrics();
      } catch (err) {
        logger.error({ err }, 'metrics server: collecting metrics failed');
        send(res, 500, 'text/plain; charset=utf-8', 'Collecting metrics failed.\n');
        return;
      }
      send(res, 200, registry.contentType, body);
      return;
    }
    if (path === '/healthz') {
      // Answering at all is the liveness signal: the event loop is not blocked.
      const uptimeSeconds = Math.round((Date.now() - startedAt) / 1000);
      send(
        res,
        200,
        'application/json; charset=utf-8',
        JSON.stringify({ ok: true, checks: { eventLoop: 'ok' }, uptimeSeconds }),
      );
      return;
    }
    const report = await runReady(opts.ready, readyTimeoutMs);
    if (!report.ok) logger.warn({ checks: report.checks }, 'metrics server: not ready');
    send(res, report.ok ? 200 : 503, 'application/json; charset=utf-8', JSON.stringify(report));
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => logger.error({ err }, 'metrics server error'));

  const { port } = server.address() as AddressInfo;
  logger.info({ host, port }, 'metrics server listening');

  let closing: Promise<void> | undefined;
  return {
    port,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        // A response stuck in flight (a hung health check past its deadline
        // cannot happen, but a client that stops reading can) must not keep
        // shutdown waiting forever.
        const force = setTimeout(() => server.closeAllConnections(), 2000);
        server.close((err) => {
          clearTimeout(force);
          if (err) reject(err);
          else resolve();
        });
        // close() alone waits for keep-alive sockets to time out (Prometheus
        // keeps its connection open between scrapes): end the idle ones now.
        // Sockets with a response in flight end after it.
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}

function send(res: http.ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, {
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(body);
}

async function runReady(ready: () => Promise<HealthReport> | HealthReport, timeoutMs: number): Promise<HealthReport> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`readiness check timed out after ${timeoutMs} ms`)), timeoutMs);
    });
    const report = await Promise.race([Promise.resolve().then(ready), timeout]);
    // Normalise: `ok` must be exactly true for a 200, and checks must be an object.
    return { ok: report.ok === true, checks: report.checks ?? {} };
  } catch (err) {
    return { ok: false, checks: { ready: err instanceof Error ? err.message : String(err) } };
  } finally {
    clearTimeout(timer);
  }
}
