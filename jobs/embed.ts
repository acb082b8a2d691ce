/**
 * The embed processor: for the chunk hashes of a job, skip those that have
 * an embedding already (chunk-level dedup across every collection), pack
 * the rest into requests under OpenAI's per-request limits, embed, and
 * insert each request's vectors as soon as they arrive so a killed worker
 * loses at most one request's work.
 */
import type { Job } from 'bullmq';
import { createEmbeddings } from '../src/embed/embedder.ts';
import { packRequests, type PackItem } from '../src/embed/packing.ts';
import { filterMissing, insertEmbeddings, loadChunkTexts, recordSpend } from '../src/store/embeddings.ts';
import type { JobContext } from './context.ts';
import type { EmbedPayload } from './payloads.ts';

export interface EmbedResult {
  requested: number;
  /** Hashes another job embedded between enqueue and now. */
  alreadyEmbedded: number;
  /** Hashes whose chunks disappeared (document changed) before embedding. */
  vanished: number;
  embedded: number;
  tokens: number;
  requests: number;
}

interface TextItem extends PackItem {
  text: string;
}

/** USD for `tokens` at a price per 1M tokens. */
export function costUsd(tokens: number, usdPerMTok: number): number {
  return (tokens * usdPerMTok) / 1_000_000;
}

/** Processes one embed job. */
export async function processEmbed(job: Job, p: EmbedPayload, ctx: JobContext): Promise<EmbedResult> {
  const key = { model: p.model, dimensions: p.dimensions };
  const cfg = ctx.config.embedding;
  const missing = await filterMissing(ctx.db.pool, key, p.chunkHashes);
  const texts = await loadChunkTexts(ctx.db.pool, missing);
  const items: TextItem[] = [...texts].map(([id, t]) => ({ id, tokens: t.tokens, text: t.text }));
  const requests = packRequests(items, { maxInputs: cfg.maxInputs, maxTokens: cfg.maxRequestTokens, maxInputTokens: cfg.maxInputTokens });

  let embedded = 0;
  let tokens = 0;
  for (const request of requests) {
    const response = await createEmbeddings(ctx.openai, key, request.items.map((i) => i.text));
    const inserted = await insertEmbeddings(
      ctx.db.pool,
      key,
      request.items.map((item, i) => ({ chunkHash: item.id, vector: response.vectors[i]!, tokens: item.tokens })),
    );
    await recordSpend(ctx.db.pool, { model: p.model, runId: p.runId, tokens: response.promptTokens, usd: costUsd(response.promptTokens, cfg.priceUsdPerMTok) });
    const byId = new Map(request.items.map((i) => [i.id, i.tokens]));
    const newRows = inserted.map((h) => ({ chunkHash: h, tokens: byId.get(h) ?? 0 }));
    await ctx.tracker.recordEmbedded(p.runId, newRows);
    embedded += newRows.length;
    tokens += response.promptTokens;
    await job.updateProgress({ embedded, of: items.length });
  }
  const skipped = p.chunkHashes.length - missing.length;
  return {
    requested: p.chunkHashes.length,
    alreadyEmbedded: skipped,
    vanished: missing.length - items.length,
    embedded,
    tokens,
    requests: requests.length,
  };
}
