/**
 * Reads a request body into memory with a size cap, so one oversized upload
 * cannot exhaust the test machine (default cap 64 MiB, setting `maxBodyBytes`).
 */
import type { IncomingMessage } from 'node:http';
import { payloadTooLarge } from './errors.ts';

/**
 * Collects the body of `req`.
 * @param maxBytes the cap, bytes
 * @returns the body (empty Buffer when there is none)
 * @throws ApiError 413 as soon as `content-length` or the bytes received exceed the cap
 *   (the rest is not read; the caller should close the connection)
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) return Promise.reject(payloadTooLarge(maxBytes));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        cleanup();
        req.pause();
        reject(payloadTooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}
