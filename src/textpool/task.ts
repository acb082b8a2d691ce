/**
 * The work one document costs in CPU: extraction, chunking and chunk
 * hashes, as one pure function of the text. It runs in a worker thread of
 * the text pool (./pool.ts), never on a worker process's event loop
 * (docs/design.md, "CPU limit per document").
 */
import { type ChunkDraft, type ChunkOptions, chunkDocument } from '../chunk/chunker.ts';
import { extractDocument } from '../extract/index.ts';
import type { DocumentKind } from '../extract/types.ts';

/** One document's text and what extraction and chunking need to know about it. */
export interface DocumentTask {
  kind: DocumentKind;
  /** The decoded text of the document (HTML, Markdown or plain text). */
  text: string;
  /** The URI links resolve against (a page's final URL after redirects). */
  uri: string;
  /** A title that wins over the document's own (inline documents). */
  title?: string | undefined;
  /** The title when the document has none (inline documents: their id); else the URI's last segment. */
  fallbackTitle?: string | undefined;
  chunk: ChunkOptions;
}

/** A document reduced to what is stored: its title, its links and its chunks (with chunk hashes). */
export interface ProcessedDocument {
  title: string;
  /** Absolute http(s) URLs linked from the document, in document order (src/extract/types.ts). */
  links: string[];
  chunks: ChunkDraft[];
}

/** Extracts, chunks and hashes one document. Synchronous and CPU-bound: call it through the text pool. */
export function processDocument(task: DocumentTask): ProcessedDocument {
  const doc = extractDocument(task.kind, task.text, task.uri, task.title, task.fallbackTitle);
  return { title: doc.title, links: doc.links, chunks: chunkDocument(doc, task.chunk) };
}
