/**
 * The emulator's own control endpoints (not part of OpenAI's API, so outside
 * `/v1` and without auth, faults or latency):
 * - `GET /_emulator/stats` → `EmulatorStats`
 * - `GET /_emulator/config` → current `EmulatorSettings`
 * - `POST /_emulator/config` with a JSON settings patch → the new settings (400 if invalid)
 * - `POST /_emulator/reset` → clears stats, windows, Files and vector stores,
 *   reseeds faults → the fresh stats
 * - `GET /_emulator/clock` → `{nowMs, now, offsetMs}` (epoch ms, Unix seconds,
 *   total advance so far)
 * - `POST /_emulator/clock` with `{"advanceMs": n}` (n ≥ 0) → moves the
 *   emulator clock forward (object timestamps, File and store expiry, file
 *   processing, per-store write windows; not the embeddings RPM/TPM
 *   windows), settles what became due, and answers the new clock
 */
import { invalidRequest } from './errors.ts';
import type { RequestContext, Route } from './http-types.ts';
import { SettingsError } from './options.ts';

/** The admin routes. */
export function adminRoutes(): Route[] {
  return [
    { method: 'GET', path: '/_emulator/stats', api: false, handler: (ctx) => ({ body: ctx.state.stats() }) },
    { method: 'GET', path: '/_emulator/config', api: false, handler: (ctx) => ({ body: ctx.state.settings }) },
    {
      method: 'POST',
      path: '/_emulator/config',
      api: false,
      handler: (ctx) => {
        try {
          return { body: ctx.state.configure(ctx.json() ?? {}) };
        } catch (err) {
          if (err instanceof SettingsError) throw invalidRequest(err.message);
          throw err;
        }
      },
    },
    {
      method: 'POST',
      path: '/_emulator/reset',
      api: false,
      handler: (ctx) => {
        ctx.state.reset();
        return { body: ctx.state.stats() };
      },
    },
    { method: 'GET', path: '/_emulator/clock', api: false, handler: (ctx) => ({ body: clockJson(ctx) }) },
    {
      method: 'POST',
      path: '/_emulator/clock',
      api: false,
      handler: (ctx) => {
        const body = ctx.json() as { advanceMs?: unknown } | undefined;
        const advance = body?.advanceMs;
        const isObject = typeof body === 'object' && body !== null && !Array.isArray(body);
        if (!isObject || Object.keys(body).some((k) => k !== 'advanceMs')) {
          throw invalidRequest('Expected a JSON body {"advanceMs": <milliseconds ≥ 0>}.');
        }
        if (typeof advance !== 'number' || !Number.isFinite(advance) || advance < 0) {
          throw invalidRequest(`advanceMs must be a finite number ≥ 0, got ${JSON.stringify(advance)}.`, 'advanceMs');
        }
        ctx.state.clock.advance(advance);
        ctx.state.storage.settle();
        return { body: clockJson(ctx) };
      },
    },
  ];
}

/** The clock as the admin endpoints report it. */
function clockJson(ctx: RequestContext): { nowMs: number; now: number; offsetMs: number } {
  const { clock } = ctx.state;
  return { nowMs: Math.floor(clock.nowMs()), now: clock.nowSeconds(), offsetMs: clock.offsetMs };
}
