/**
 * The LangChain side of `npm run bench:embed`, in its own process:
 * `node test/bench/langchain-child.ts <texts.json> <baseURL> <model>`.
 *
 * Embeds the texts with `@langchain/openai`'s `OpenAIEmbeddings` at its
 * defaults (batches of 512 inputs, 2 batches at a time, 6 retries with
 * exponential backoff honouring `Retry-After`, newlines replaced by spaces),
 * and prints one JSON line: `{ok, startedAt, wallMs, vectors, dimensions}`
 * or `{ok: false, startedAt, wallMs, error}`.
 *
 * A separate process because `embedDocuments` rejects on the first batch
 * that runs out of retries while the other batches keep going: exiting is
 * the only way to stop them from skewing what the emulator counts next.
 */
import { readFileSync } from 'node:fs';
import { OpenAIEmbeddings } from '@langchain/openai';

export interface LangChainResult {
  ok: boolean;
  /** Epoch ms just before `embedDocuments`. */
  startedAt: number;
  /** ms spent in `embedDocuments`. */
  wallMs: number;
  vectors?: number;
  dimensions?: number;
  error?: string;
}

const [file, baseURL, model] = process.argv.slice(2);
if (!file || !baseURL || !model) {
  process.stderr.write('usage: node test/bench/langchain-child.ts <texts.json> <baseURL> <model>\n');
  process.exit(2);
}
const texts = JSON.parse(readFileSync(file, 'utf8')) as string[];
const embeddings = new OpenAIEmbeddings({ model, apiKey: 'bench', configuration: { baseURL } });

const startedAt = Date.now();
const started = performance.now();
let result: LangChainResult;
try {
  const vectors = await embeddings.embedDocuments(texts);
  result = {
    ok: vectors.length === texts.length,
    startedAt,
    wallMs: performance.now() - started,
    vectors: vectors.length,
    dimensions: vectors[0]?.length ?? 0,
  };
  if (!result.ok) result.error = `got ${vectors.length} vectors for ${texts.length} texts`;
} catch (err) {
  const e = err as Error;
  result = { ok: false, startedAt, wallMs: performance.now() - started, error: `${e.name}: ${e.message}` };
}
process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
