/**
 * The official OpenAI SDK, pointed at OpenAI or at Sluice's emulator.
 * The SDK's own retries are off by default (OPENAI_MAX_RETRIES=0): Sluice
 * decides retries per error class, and SDK retries inside job retries would
 * multiply (docs/openai-facts.md, "Official Node SDK": the SDK retries 429
 * insufficient_quota too).
 */
import OpenAI from 'openai';
import type { Config } from '../config/config.ts';

export { OpenAI };

/** API key sent to the built-in emulator, which accepts any bearer token. */
export const EMULATOR_API_KEY = 'sluice-emulator';

/** `performance.now()` when each response's headers arrived, keyed by its `Headers`. */
const arrivals = new WeakMap<Headers, number>();

/**
 * How long ago a response's headers arrived, ms (0 when unknown). Between
 * the headers and the parsed body a busy process can spend seconds (body
 * download, JSON parse, base64 decoding, other jobs' callbacks); rate-limit
 * accounting wants the earlier moment (src/embed/embedder.ts).
 */
export function msSinceHeaders(headers: Headers | undefined): number {
  const at = headers ? arrivals.get(headers) : undefined;
  return at === undefined ? 0 : Math.max(0, performance.now() - at);
}

/** `send` (the global fetch by default), noting when each response's headers arrived. */
function timed(send: typeof fetch): typeof fetch {
  return async (input, init) => {
    const response = await send(input, init);
    arrivals.set(response.headers, performance.now());
    return response;
  };
}

/**
 * @param baseURL the emulator's URL, or undefined for OPENAI_BASE_URL / OpenAI
 * @param send the fetch to send with (the embedded emulator's, which follows it when its owner changes)
 */
export function createOpenAI(config: Config, baseURL: string | undefined, send: typeof fetch = fetch): OpenAI {
  return new OpenAI({
    // The built-in emulator (baseURL given) never sees a real key, even with OPENAI_EMULATOR=true and one set.
    apiKey: baseURL !== undefined ? EMULATOR_API_KEY : (config.openai.apiKey ?? EMULATOR_API_KEY),
    baseURL: baseURL ?? config.openai.baseURL,
    timeout: config.openai.timeoutMs,
    maxRetries: config.openai.maxRetries,
    fetch: timed(send),
  });
}
