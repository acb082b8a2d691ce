/**
 * Sluice's one door to the OpenAI emulator (`@sluice/openai-emulator`): the
 * package is loaded on first use by a dynamic import, so a process with
 * OPENAI_API_KEY (or OPENAI_BASE_URL) set never loads, nor even resolves, an
 * emulator module. Elsewhere in Sluice import the package's types only
 * (`import type`, erased by type stripping); its values come from here.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type * as Emulator from '@sluice/openai-emulator';
import type { RunningEmulator } from '@sluice/openai-emulator';
import { StartupError } from '../errors/index.ts';
import { createLock, isAlive, readLock, removeLockOf, replaceLock } from '../locks/lock-file.ts';
import type { Logger } from '../log/logger.ts';

export type { RunningEmulator } from '@sluice/openai-emulator';

/**
 * Loads the emulator package through its public entry (Node caches the
 * module: later calls cost nothing).
 * @returns the package's exports (`startEmulator`, `emulatorSettingsFromEnv`, …)
 */
export function loadEmulator(): Promise<typeof Emulator> {
  return import('@sluice/openai-emulator');
}

/**
 * The embedded default's emulator, shared by every Sluice process of one
 * DATA_DIR the way the embedded PGlite server is (src/db/embedded.ts): the
 * first process starts it on a loopback port with its state in
 * `<DATA_DIR>/emulator` (Files, vector stores, attachments, batches and the
 * clock survive the process) and writes `<DATA_DIR>/emulator.lock`
 * (`{pid, port, url}`); a later process whose lock names a live process
 * that answers on that URL uses it instead of starting its own. When the
 * owner exits, the next request of a process that used it finds the port
 * closed and goes through the same steps: one of them starts the emulator
 * again from the saved state, the others join it.
 */
export interface EmbeddedEmulator {
  /** Base URL of the emulator serving now. */
  url(): string;
  /** The emulator, when this process serves it. */
  running(): RunningEmulator | undefined;
  /**
   * `fetch` for the SDK (constructed with the first `url()`): sends to the
   * emulator serving now, and when the port refuses (its owner exited)
   * finds or starts the next one and sends once more.
   */
  fetch: typeof fetch;
  /** Stops the emulator when this process serves it (after its last user in the process). */
  close(): Promise<void>;
}

interface EmulatorLock {
  pid: number;
  port?: number;
  url?: string;
}

/** How long a process waits for an emulator another process is starting, ms. */
const JOIN_TIMEOUT_MS = 20_000;

/** Emulators this process serves, by lock path, with their users in the process. */
const served = new Map<string, { emulator: RunningEmulator; users: number }>();

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url.replace(/\/v1$/, '')}/_emulator/clock`, { signal: AbortSignal.timeout(2000) });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Finds the live emulator of `dataDir` or starts it (see {@link EmbeddedEmulator}).
 * @returns its URL, and the emulator when this process serves it
 * @throws StartupError when another process holds the lock but never answers within 20 s
 */
async function findOrStart(
  dataDir: string,
  logger: Logger,
): Promise<{ url: string; emulator?: RunningEmulator; lockPath: string }> {
  const lockPath = path.join(dataDir, 'emulator.lock');
  const stateDir = path.join(dataDir, 'emulator');
  await fs.mkdir(dataDir, { recursive: true });
  const deadline = Date.now() + JOIN_TIMEOUT_MS;
  for (;;) {
    const mine = served.get(lockPath);
    if (mine) {
      mine.users++;
      return { url: mine.emulator.url, emulator: mine.emulator, lockPath };
    }
    if (await createLock(lockPath, { pid: process.pid })) {
      let emulator: RunningEmulator;
      try {
        const { startEmulator, StateDirError } = await loadEmulator();
        try {
          emulator = await startEmulator({ host: '127.0.0.1', port: 0, logger, stateDir });
        } catch (err) {
          // A process that lost the lock file to a stale-lock race still holds the state directory: join it.
          if (!(err instanceof StateDirError)) throw err;
          if (Date.now() > deadline) throw new StartupError(err.message, { cause: err });
          await removeLockOf(lockPath, process.pid);
          await sleep(100);
          continue;
        }
      } catch (err) {
        await removeLockOf(lockPath, process.pid);
        throw err;
      }
      await replaceLock(lockPath, { pid: process.pid, port: emulator.port, url: emulator.url });
      served.set(lockPath, { emulator, users: 1 });
      logger.info(
        { url: emulator.url, stateDir },
        'embedded OpenAI emulator serving on loopback (OPENAI_API_KEY unset)',
      );
      return { url: emulator.url, emulator, lockPath };
    }
    const lock = await readLock<EmulatorLock>(lockPath);
    if (lock && lock.pid !== process.pid && isAlive(lock.pid)) {
      if (lock.url && (await answers(lock.url))) {
        logger.info({ url: lock.url, ownerPid: lock.pid }, 'joining the embedded OpenAI emulator of another process');
        return { url: lock.url, lockPath };
      }
      if (Date.now() > deadline) {
        throw new StartupError(
          `process ${lock.pid} holds ${lockPath} but its emulator does not answer; stop it or remove the file`,
        );
      }
    } else if (lock) {
      // Its process is gone (or is this one, restarted under the same pid): stale.
      await removeLockOf(lockPath, lock.pid);
      continue;
    }
    if (!lock && Date.now() > deadline) throw new StartupError(`${lockPath} cannot be read; remove it`);
    await sleep(100); // being started: look again
  }
}

function isRefused(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) {
    if ((e as NodeJS.ErrnoException).code === 'ECONNREFUSED') return true;
  }
  return false;
}

/**
 * Starts or joins the embedded emulator of `dataDir` (see {@link EmbeddedEmulator}).
 * @param dataDir DATA_DIR; the state goes to `<dataDir>/emulator`
 */
export async function openEmbeddedEmulator(dataDir: string, logger: Logger): Promise<EmbeddedEmulator> {
  let current = await findOrStart(dataDir, logger);
  const firstOrigin = new URL(current.url).origin;
  let switching: Promise<void> | undefined;
  let closed = false;

  /** The owner went away: find or start the next emulator (one search at a time in this process). */
  const switchOver = (failedUrl: string): Promise<void> => {
    if (current.url !== failedUrl) return Promise.resolve();
    switching ??= (async () => {
      logger.warn({ url: failedUrl }, 'the embedded OpenAI emulator went away: finding or starting the next one');
      current = await findOrStart(dataDir, logger);
    })().finally(() => {
      switching = undefined;
    });
    return switching;
  };

  const route = (input: string | URL | Request): string | URL | Request => {
    const href = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const origin = new URL(current.url).origin;
    if (origin === firstOrigin || !href.startsWith(firstOrigin)) return input;
    const moved = origin + href.slice(firstOrigin.length);
    return input instanceof Request ? new Request(moved, input) : moved;
  };

  const embeddedFetch: typeof fetch = async (input, init) => {
    const usedUrl = current.url;
    try {
      return await fetch(route(input), init);
    } catch (err) {
      // Refused: the request never reached an emulator, so sending it again cannot double it.
      if (closed || !isRefused(err)) throw err;
      await switchOver(usedUrl);
      return fetch(route(input), init);
    }
  };

  return {
    url: () => current.url,
    running: () => current.emulator,
    fetch: embeddedFetch,
    async close() {
      if (closed) return;
      closed = true;
      await switching?.catch(() => {});
      const mine = served.get(current.lockPath);
      if (!current.emulator || !mine) return;
      if (--mine.users > 0) return;
      served.delete(current.lockPath);
      await mine.emulator.close();
      await removeLockOf(current.lockPath, process.pid);
    },
  };
}
