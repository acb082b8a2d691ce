/**
 * The official OpenAI SDK, pointed at OpenAI or at Sluice's emulator.
 * The SDK's own retries are off by default (OPENAI_MAX_RETRIES=0): Sluice
 * decides retries per error class, and SDK retries inside job retries would
 * multiply (FACTS.md: the SDK retries 429 insufficient_quota too).
 */
import OpenAI from 'openai';
import type { Config } from '../config/config.ts';

export { OpenAI };

/** API key sent to the built-in emulator, which accepts any bearer token. */
export const EMULATOR_API_KEY = 'sluice-emulator';

export function createOpenAI(config: Config, baseURL: string | undefined): OpenAI {
  return new OpenAI({
    apiKey: config.openai.apiKey ?? EMULATOR_API_KEY,
    baseURL: baseURL ?? config.openai.baseURL,
    timeout: config.openai.timeoutMs,
    maxRetries: config.openai.maxRetries,
  });
}
