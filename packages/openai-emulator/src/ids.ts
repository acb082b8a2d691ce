/**
 * Object ids in the service's formats: `file-…` (22 base62 characters, like
 * `file-Xk9…`), `vs_…` and `vsfb_…` (24 characters each). Random, so ids
 * never repeat across resets and a client cannot rely on their order.
 */
import { randomBytes } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function randomText(length: number): string {
  const bytes = randomBytes(length * 2);
  let out = '';
  for (let i = 0; out.length < length && i < bytes.length; i++) {
    const b = bytes[i] as number;
    if (b < 248) out += ALPHABET[b % 62]; // 248 = 4 × 62: no modulo bias
  }
  while (out.length < length) out += ALPHABET[(randomBytes(1)[0] as number) % 62];
  return out;
}

/** A new File id, `file-` + 22 characters. */
export function newFileId(): string {
  return `file-${randomText(22)}`;
}

/** A new vector store id, `vs_` + 24 characters. */
export function newVectorStoreId(): string {
  return `vs_${randomText(24)}`;
}

/** A new file batch id, `vsfb_` + 24 characters. */
export function newFileBatchId(): string {
  return `vsfb_${randomText(24)}`;
}
