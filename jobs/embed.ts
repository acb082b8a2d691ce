/**
 * The embed processor: for the chunk hashes of a job, skip those that have
 * an embedding already (chunk-level dedup across every collection), claim
 * the rest so no other job pays for them at the same time, pack them into
 * requests under OpenAI's per-request limits, embed under the shared
 * budget, and insert each request's vectors as soon as they arrive so a
 * killed worker loses at most one request's work.
 */
import type { Job } from 'bullmq';
import { packRequests, requestTokenLimit, type PackItem } from '../src/embed/packing.ts';
import { chunksTotal, costUsdTotal, embeddingTokensTotal } from '../src/metrics/metrics.ts';
import { filterMissing, insertEmbeddings, loadChunkTexts, recordSpend } from '../src/store/embeddings.ts';
import { embeddingScope } from '../src/embed/embedding-key.ts';
import { costUsd } from '../src/openai/prices.ts';
import type { EmbedPayload, EmbedResult } from '../src/queue/contracts.ts';
import type { JobContext } from '../src/runtime/job-context.ts';

interface TextItem extends PackItem {
  text: string;
}

/**
 * How often to look again at hashes another job is embedding, ms. One
 * indexed read per waiting job; a request to OpenAI takes ~300 ms and more,
 * so looking more often would find nothing new.
 */
const CLAIM_POLL_MS = 250;

/** Embeds hashes this job holds the claims of; returns counts. */
async function embedClaimed(job: Job, p: EmbedPayload, ctx: JobContext, hashes: string[]) {
  const key = { model: p.model, dimensions: p.dimensions };
  const cfg = ctx.config.embedding;
  const texts = await loadChunkTexts(ctx.db.pool, hashes);
  const items: TextItem[] = [...texts].map(([id, t]) => ({ id, tokens: t.tokens, text: t.text }));
  const requests = packRequests(items, {
    maxInputs: cfg.maxInputs,
    maxTokens: requestTokenLimit(cfg),
    maxInputTokens: cfg.maxInputTokens,
  });
  let embedded = 0;
  let tokens = 0;
  for (const request of requests) {
    const response = await ctx.coalescer.embed(
      key,
      request.items.map((i) => i.text),
      request.tokens,
    );
    const rows = request.items.map((item, i) => ({
      chunkHash: item.id,
      vector: response.vectors[i]!,
      tokens: item.tokens,
    }));
    const inserted = await ctx.db.write((pool) => insertEmbeddings(pool, key, rows));
    const usd = costUsd(response.promptTokens, cfg.priceUsdPerMTok);
    await recordSpend(ctx.db.pool, { model: p.model, runId: p.runId, tokens: response.promptTokens, usd });
    costUsdTotal.inc({ kind: 'embedding' }, usd);
    embeddingTokensTotal.inc({ model: p.model, outcome: 'embedded' }, response.promptTokens);
    chunksTotal.inc({ outcome: 'new' }, inserted.length);
    const byId = new Map(request.items.map((i) => [i.id, i.tokens]));
    await ctx.tracker.recordEmbedded(
      p.runId,
      inserted.map((h) => ({ chunkHash: h, tokens: byId.get(h) ?? 0 })),
    );
    embedded += inserted.length;
    tokens += response.promptTokens;
    await job.updateProgress({ embedded });
  }
  return { embedded, tokens, requests: requests.length, vanished: hashes.length - items.length };
}

/** Processes one embed job. */
export async function processEmbed(job: Job, p: EmbedPayload, ctx: JobContext): Promise<EmbedResult> {
  const key = { model: p.model, dimensions: p.dimensions };
  const scope = embeddingScope(key);
  const owner = String(job.id);
  const result: EmbedResult = {
    requested: p.chunkHashes.length,
    alreadyEmbedded: 0,
    vanished: 0,
    embedded: 0,
    tokens: 0,
    requests: 0,
  };
  let pending = await filterMissing(ctx.db.pool, key, p.chunkHashes);
  while (pending.length) {
    const claimed = await ctx.claims.claim(scope, owner, pending);
    const others = claimed.others;
    // Another job may have embedded some of these (and released its claim)
    // between the check above and the claim: check again before paying.
    const mine = claimed.mine.length ? await filterMissing(ctx.db.pool, key, claimed.mine) : [];
    const mineSet = new Set(mine);
    const done = claimed.mine.filter((h) => !mineSet.has(h));
    if (done.length) await ctx.claims.release(scope, owner, done);
    if (mine.length) {
      // Renewed while this job waits for budget and embeds, however long that takes.
      const lease = ctx.claims.hold(scope, owner, mine, (lost) =>
        ctx.logger.warn(
          { jobId: job.id, lost, of: mine.length },
          'embed: claims lapsed while held (event loop stalled longer than the claim TTL?); these chunks may be paid twice',
        ),
      );
      try {
        const r = await embedClaimed(job, p, ctx, mine);
        result.embedded += r.embedded;
        result.tokens += r.tokens;
        result.requests += r.requests;
        result.vanished += r.vanished;
      } finally {
        lease.stop();
        await ctx.claims.release(scope, owner, mine);
      }
    }
    if (!others.length) break;
    // Another job is embedding these: wait until they exist or its claim
    // lapses (its owner stopped renewing: died), then take them over. No
    // deadline: a live owner may wait for the budget behind a long backlog.
    await new Promise((r) => setTimeout(r, CLAIM_POLL_MS));
    pending = await filterMissing(ctx.db.pool, key, others);
  }
  result.alreadyEmbedded = result.requested - result.embedded - result.vanished;
  return result;
}
