/**
 * The emulator's own control endpoints (not part of OpenAI's API, so outside
 * `/v1` and without auth, faults or latency):
 * - `GET /_emulator/stats` → `EmulatorStats`
 * - `GET /_emulator/config` → current `EmulatorSettings`
 * - `POST /_emulator/config` with a JSON settings patch → the new settings (400 if invalid)
 * - `POST /_emulator/reset` → clears stats and windows, reseeds faults → the fresh stats
 */
import { invalidRequest } from './errors.ts';
import type { Route } from './http-types.ts';
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
  ];
}
