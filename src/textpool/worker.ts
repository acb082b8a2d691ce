/**
 * The entry point of a text-pool thread (piscina loads it by file URL;
 * Node 24 strips its types). One task: tell the pool the document's clock
 * starts now, then extract, chunk and hash it (./task.ts).
 */
import type { MessagePort } from 'node:worker_threads';
import { type DocumentTask, type ProcessedDocument, processDocument } from './task.ts';

/** A task as the pool sends it: the document, and the port that hears when work on it starts. */
export interface PoolTask {
  document: DocumentTask;
  started: MessagePort;
}

export default function run({ document, started }: PoolTask): ProcessedDocument {
  started.postMessage(null);
  started.close();
  return processDocument(document);
}
