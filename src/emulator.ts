/**
 * `sluice/emulator`: the OpenAI emulator for tests and local runs, kept out
 * of the main entry (`sluice`) so that importing Sluice never loads it.
 *
 * ```ts
 * import { startEmulator } from 'sluice/emulator';
 * const emu = await startEmulator();             // 127.0.0.1, any free port
 * const openai = new OpenAI({ apiKey: 'test', baseURL: emu.url });
 * await emu.close();
 * ```
 * The same exports as the `@sluice/openai-emulator` workspace package.
 */
export * from '@sluice/openai-emulator';
