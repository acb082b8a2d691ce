/**
 * The entry point of a text-pool thread (piscina loads it by file URL;
 * Node 24 strips its types). One task: tell the pool the document's clock
 * starts now, then extract, chunk and hash it (./task.ts).
 *
 * The thread warms up when it loads, before it takes a task: the tokenizer
 * builds its tables on first use, and that one-time cost (hundreds of ms on
 * a busy machine) must not be charged to the first document's CPU limit.
 */
import type { MessagePort } from 'node:worker_threads';
import { type DocumentTask, type ProcessedDocument, processDocument } from './task.ts';

processDocument({
  kind: 'html',
  text: '<title>warm-up</title><h1 id="w">Warm up</h1><p>The <b>first</b> document &mdash; warm.</p>',
  uri: 'https://warm-up.invalid/',
  chunk: { maxTokens: 64, overlapTokens: 8 },
});

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
