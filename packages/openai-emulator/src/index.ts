/**
 * Sluice's OpenAI emulator: a faithful stand-in for the parts of OpenAI's
 * HTTP API that Sluice uses, served over real HTTP on loopback so the
 * official SDK talks to it unchanged (`baseURL: emu.url`).
 *
 * Served: `POST /v1/embeddings`; Files (`/v1/files…`); Vector stores
 * (`/v1/vector_stores…`: stores, files, file batches, search). Files and
 * stores live in memory until deleted, expired or reset, and with option
 * `stateDir` also on disk, loaded by the next emulator (`persistence.ts`).
 *
 * Start it with {@link startEmulator}; steer it with `configure()` /
 * `reset()` / `advanceClock()` or the admin endpoints (`/_emulator/stats`,
 * `/_emulator/config`, `/_emulator/reset`, `/_emulator/clock`); settings
 * can come from `EMULATOR_*` variables via {@link emulatorSettingsFromEnv}
 * (startEmulator does not read the environment by itself).
 *
 * New endpoints: add their `Route[]` in {@link apiRoutes}.
 *
 * Sources cited in comments, as paths in the Sluice repository: "spec" is
 * OpenAI's OpenAPI spec, copied to
 * `packages/openai-emulator/test/fixtures/openai/openapi.yaml` (the tests
 * validate bodies against its schemas); limits, headers and error bodies are
 * from `docs/openai-facts.md` (by section, e.g. "Rate limits").
 */
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { adminRoutes } from './admin.ts';
import { embeddingRoutes } from './embeddings.ts';
import { fileRoutes } from './files.ts';
import type { Route } from './http-types.ts';
import type { EmulatorOptions, EmulatorSettings } from './options.ts';
import { StatePersistence } from './persistence.ts';
import { Router } from './router.ts';
import { createEmulatorServer } from './server.ts';
import { searchRoutes } from './search.ts';
import { EmulatorState } from './state.ts';
import type { EmulatorStats } from './stats.ts';
import { vectorStoreFileRoutes } from './vector-store-files.ts';
import { vectorStoreRoutes } from './vector-stores.ts';

export { embedText } from './vectors.ts';
export { formatGoDuration } from './go-duration.ts';
export { DEFAULT_SETTINGS, emulatorSettingsFromEnv, emulatorStateDirFromEnv, SettingsError } from './options.ts';
export { StateDirError } from './persistence.ts';
export type { EmulatorOptions, EmulatorSettings } from './options.ts';
export type { EmulatorStats, ModelWindowStats } from './stats.ts';
export { SUPPORTED_EXTENSIONS } from './text-extract.ts';
export { createRandom } from './faults.ts';
export type { FaultKind, Random } from './faults.ts';
export type { OpenAIError, OpenAIErrorBody } from './errors.ts';
export { peakOverWindows } from './limits.ts';
export type { AcceptedRequest, WindowPeak } from './limits.ts';

/** A started emulator. */
export interface RunningEmulator {
  /** Base URL for the SDK, e.g. `http://127.0.0.1:45123/v1`. */
  url: string;
  /** Bound TCP port. */
  port: number;
  /**
   * Patches the settings (same as `POST /_emulator/config`).
   * @throws SettingsError when the patch is invalid (nothing changes then)
   */
  configure(patch: Partial<EmulatorSettings>): void;
  /** Current settings (a copy). */
  settings(): EmulatorSettings;
  /** Stats snapshot (same as `GET /_emulator/stats`). */
  stats(): EmulatorStats;
  /**
   * Clears stats, rate-limit windows, Files and vector stores and reseeds the
   * fault PRNG; settings and the clock stay.
   */
  reset(): void;
  /**
   * Moves the emulator clock forward (same as `POST /_emulator/clock
   * {advanceMs}`): object timestamps, File and vector store expiry, file
   * processing delays and per-store write windows follow it; the embeddings
   * RPM/TPM windows do not.
   * @param ms milliseconds ≥ 0
   * @returns the new emulator time, epoch ms
   * @throws RangeError for a negative or non-finite amount
   */
  advanceClock(ms: number): number;
  /** The emulator clock now, epoch ms (`created_at` values are this in seconds). */
  now(): number;
  /**
   * Stops listening, cancels pending delayed responses and destroys
   * keep-alive sockets; with a state directory, saves a last time and
   * releases it.
   */
  close(): Promise<void>;
}

/** The OpenAI API routes the emulator serves (admin routes are added separately). */
export function apiRoutes(): Route[] {
  return [...embeddingRoutes(), ...fileRoutes(), ...vectorStoreRoutes(), ...vectorStoreFileRoutes(), ...searchRoutes()];
}

/**
 * Starts the emulator on `host:port` (default `127.0.0.1:0`, any free port).
 * @param options listen address, logger and any {@link EmulatorSettings}
 * @throws SettingsError for invalid settings; the listen error if binding fails
 */
export async function startEmulator(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  const { host = '127.0.0.1', port = 0, logger, stateDir, ...settings } = options;
  const log = logger ?? pino({ level: 'silent' });
  const state = new EmulatorState(settings);
  if (stateDir !== undefined) {
    const persistence = new StatePersistence(stateDir);
    try {
      const loaded = persistence.load(state.storage, state.clock);
      state.persistence = persistence;
      const { files, vectorStores } = state.storage.totals();
      log.info({ stateDir: persistence.dir, loaded, files, vectorStores }, 'emulator: state directory');
    } catch (err) {
      persistence.release();
      throw err;
    }
  }
  const router = new Router().add(...apiRoutes(), ...adminRoutes());
  const { server, shutdown } = createEmulatorServer(state, router, log);

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => {
      state.persistence?.release();
      reject(err);
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  const hostForUrl = host.includes(':') ? `[${host}]` : host;
  const url = `http://${hostForUrl}:${bound}/v1`;
  log.info({ url }, 'emulator: listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    port: bound,
    configure: (patch) => {
      state.configure(patch);
    },
    settings: () => {
      const s = state.settings;
      return { ...s, faultRoutes: s.faultRoutes ? [...s.faultRoutes] : null };
    },
    stats: () => state.stats(),
    reset: () => {
      state.reset();
      state.persist();
    },
    advanceClock: (ms) => {
      const now = state.clock.advance(ms);
      state.storage.settle();
      state.persist();
      return now;
    },
    now: () => state.clock.nowMs(),
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        shutdown();
      }).finally(() => {
        const { persistence } = state;
        if (!persistence) return;
        try {
          state.persist(true);
        } finally {
          persistence.release();
        }
      });
      return closing;
    },
  };
}
