export { sha256Hex, normaliseText, chunkHash, contentHash, hashFileStream } from './hash.ts';
