/**
 * Files and filesets as OpenAI vector stores see them. A file is known by
 * its content hash (SHA-256 of its bytes, line endings normalised for text
 * so a CRLF checkout and an LF checkout are the same file). A fileset is an
 * unordered set of content hashes plus the chunking strategy; its hash is
 * order-independent, so paths, names and order don't matter and any content
 * change gives a new fileset.
 */
import path from 'node:path';
import { sha256Hex } from '../hash/index.ts';

/** File types a vector store accepts (docs/openai-facts.md, "Files"). */
// biome-ignore format: one list of OpenAI's, kept compact as the facts file gives it.
export const VECTOR_STORE_EXTENSIONS = new Set([
  '.c', '.cpp', '.cs', '.css', '.doc', '.docx', '.go', '.html', '.java', '.js', '.json',
  '.md', '.pdf', '.php', '.pptx', '.py', '.rb', '.sh', '.tex', '.ts', '.txt',
]);
/** Of those, the binary formats: their bytes are hashed as they are. */
const BINARY_EXTENSIONS = new Set(['.doc', '.docx', '.pdf', '.pptx']);

/** True when a file's line endings are normalised before hashing. */
export function isTextFilename(filename: string): boolean {
  return !BINARY_EXTENSIONS.has(path.extname(filename).toLowerCase());
}

/** OpenAI's chunking strategy for vector store files (docs/openai-facts.md, "Vector stores"). */
export type ChunkingStrategy =
  | { type: 'auto' }
  | { type: 'static'; static: { max_chunk_size_tokens: number; chunk_overlap_tokens: number } };

export const AUTO_CHUNKING: ChunkingStrategy = { type: 'auto' };

/**
 * Order-independent fileset hash: SHA-256 of the sorted, deduplicated
 * content hashes and the canonical chunking strategy.
 */
export function filesetHash(contentHashes: readonly string[], chunking: ChunkingStrategy = AUTO_CHUNKING): string {
  const files = [...new Set(contentHashes)].sort();
  const strategy =
    chunking.type === 'auto'
      ? 'auto'
      : `static:${chunking.static.max_chunk_size_tokens}:${chunking.static.chunk_overlap_tokens}`;
  return sha256Hex(`sluice-fileset-v1\n${strategy}\n${files.join('\n')}`);
}
