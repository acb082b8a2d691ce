export { CHUNKER_VERSIONS, CURRENT_CHUNKER_VERSION, chunkDocument, countTokens } from './chunker.ts';
export type { ChunkDraft, ChunkerVersion, ChunkOptions } from './chunker.ts';
