/**
 * API-key check for `/v1` routes. The emulator accepts any non-empty Bearer
 * key unless the `apiKey` setting pins one; failures get the service's 401
 * bodies (missing key: `code: null`; wrong key: `code: "invalid_api_key"`).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { incorrectApiKey, missingApiKey } from './errors.ts';

/**
 * @param headers request headers
 * @param requiredKey the only key accepted, or null for any non-empty key
 * @returns the key that was sent
 * @throws ApiError 401
 */
export function authenticate(headers: IncomingHttpHeaders, requiredKey: string | null): string {
  const header = headers.authorization?.trim();
  if (!header) throw missingApiKey();
  if (!/^Bearer(?:\s|$)/i.test(header)) throw incorrectApiKey(header);
  const key = header.slice('Bearer'.length).trim();
  if (key === '') throw missingApiKey();
  if (requiredKey !== null && key !== requiredKey) throw incorrectApiKey(key);
  return key;
}
