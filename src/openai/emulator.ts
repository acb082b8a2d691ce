/**
 * Sluice's one door to the OpenAI emulator (`@sluice/openai-emulator`): the
 * package is loaded on first use by a dynamic import, so a process with
 * OPENAI_API_KEY (or OPENAI_BASE_URL) set never loads, nor even resolves, an
 * emulator module. Elsewhere in Sluice import the package's types only
 * (`import type`, erased by type stripping); its values come from here.
 */
import type * as Emulator from '@sluice/openai-emulator';

export type { RunningEmulator } from '@sluice/openai-emulator';

/**
 * Loads the emulator package through its public entry (Node caches the
 * module: later calls cost nothing).
 * @returns the package's exports (`startEmulator`, `emulatorSettingsFromEnv`, …)
 */
export function loadEmulator(): Promise<typeof Emulator> {
  return import('@sluice/openai-emulator');
}
