export { chunkDocument, countTokens } from './chunker.ts';
export type { ChunkDraft, ChunkOptions } from './chunker.ts';
