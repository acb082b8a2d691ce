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
import { withTransaction } from '../src/db/db.ts';
import { LeaseLostError } from '../src/errors/index.ts';
import { sleepFor, waitFor } from '../src/runtime/deadline.ts';
import { completeSpend, filterMissing, insertEmbeddings, loadChunkTexts, voidSpend } from '../src/store/embeddings.ts';
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
  const scope = embeddingScope(key);
  const owner = ctx.delivery ?? String(job.id);
  // The model and run a voided ledger row carries if the void lands before its intent's INSERT (voidSpend).
  const spender = { model: p.model, runId: p.runId };
  const afterPaid = ctx.afterPaid ?? (<T>(fn: () => Promise<T>) => fn());
  for (const request of requests) {
    const hashesOf = request.items.map((i) => i.id);
    let intent: string | undefined;
    // Right before the request goes out (after the budget wait): this
    // delivery must still hold every claim. Its ledger row is then written by
    // the coalescer with the other parts' in one statement (`ledger`).
    const beforeSend = async () => {
      ctx.signal?.throwIfAborted();
      const lost = await ctx.claims.notHeld(scope, owner, hashesOf);
      if (lost > 0)
        throw new LeaseLostError(
          `embed job ${job.id}: ${lost} of ${hashesOf.length} claims are no longer this delivery's (it stalled past them); not paying for them`,
        );
      // A retry after a 5xx (unbilled) replaces the earlier attempt's row.
      if (intent !== undefined) await voidSpend(ctx.db.pool, intent, spender);
      intent = undefined;
    };
    // A sent attempt refused unbilled (5xx, dropped connection) is voided at
    // once, not when its retry is sent: the retry may wait minutes for the
    // budget, and a process killed meanwhile would leave the row 'sent'.
    const afterUnbilled = async () => {
      const id = intent;
      if (id === undefined) return;
      await voidSpend(ctx.db.pool, id, spender);
      if (intent === id) intent = undefined;
    };
    let response: Awaited<ReturnType<typeof ctx.coalescer.embed>>;
    try {
      response = await waitFor(
        `an embeddings response for ${request.items.length} inputs`,
        ctx.coalescer.embed(
          key,
          request.items.map((i) => i.text),
          request.tokens,
          {
            ...(ctx.signal ? { signal: ctx.signal } : {}),
            beforeSend,
            afterUnbilled,
            intent: {
              model: p.model,
              runId: p.runId,
              tokens: request.tokens,
              usd: costUsd(request.tokens, cfg.priceUsdPerMTok),
            },
            onIntent: (id: string) => {
              intent = id;
            },
          },
        ),
        ctx.paidSignal,
      );
    } catch (err) {
      // Sent and refused unbilled (429, 4xx, 5xx), or not sent (the intent's
      // own INSERT may have failed, committed or not): the intent bills
      // nothing. Voided through an outage like the bookkeeping of a paid
      // response: left 'sent', the ledger would count tokens nobody billed.
      // A job whose lease or deadline ends first leaves it 'sent'.
      const id = intent;
      if (id !== undefined)
        await afterPaid(() => ctx.db.write((pool) => voidSpend(pool, id, spender))).catch((voidErr: unknown) => {
          ctx.logger.warn(
            { jobId: job.id, ledgerId: id, err: { message: (voidErr as Error).message } },
            'could not void the ledger row of an unbilled request: it stays sent',
          );
        });
      throw err;
    }
    const rows = request.items.map((item, i) => ({
      chunkHash: item.id,
      vector: response.vectors[i]!,
      tokens: item.tokens,
    }));
    const usd = costUsd(response.promptTokens, cfg.priceUsdPerMTok);
    // Paid: the vectors and the billed ledger row commit together, retried on
    // their own through outages, never by sending the request again.
    const inserted = await afterPaid(() =>
      ctx.db.write((pool) =>
        withTransaction(pool, async (client) => {
          const rowsIn = await insertEmbeddings(pool, key, rows, client);
          if (intent !== undefined) await completeSpend(client, intent, { tokens: response.promptTokens, usd });
          return rowsIn;
        }),
      ),
    );
    costUsdTotal.inc({ kind: 'embedding' }, usd);
    embeddingTokensTotal.inc({ model: p.model, outcome: 'embedded' }, response.promptTokens);
    chunksTotal.inc({ outcome: 'new' }, inserted.length);
    const byId = new Map(request.items.map((i) => [i.id, i.tokens]));
    await afterPaid(() =>
      ctx.tracker.recordEmbedded(
        p.runId,
        inserted.map((h) => ({ chunkHash: h, tokens: byId.get(h) ?? 0 })),
      ),
    );
    embedded += inserted.length;
    tokens += response.promptTokens;
    await afterPaid(() => job.updateProgress({ embedded }));
  }
  return { embedded, tokens, requests: requests.length, vanished: hashes.length - items.length };
}

/** Processes one embed job. */
export async function processEmbed(job: Job, p: EmbedPayload, ctx: JobContext): Promise<EmbedResult> {
  const key = { model: p.model, dimensions: p.dimensions };
  const scope = embeddingScope(key);
  // The delivery (job id and lock token), not the job: a redelivery of a
  // stalled job must not pass as the owner of the first delivery's claims.
  const owner = ctx.delivery ?? String(job.id);
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
    // between the check above and the claim: check again before paying. If
    // this attempt ends here (deadline, drain), its claims go back at once
    // rather than lapse: another process takes them without waiting.
    const mine = claimed.mine.length
      ? await filterMissing(ctx.db.pool, key, claimed.mine).catch(async (err: unknown) => {
          await ctx.claims.release(scope, owner, claimed.mine).catch(() => {});
          throw err;
        })
      : [];
    const mineSet = new Set(mine);
    const done = claimed.mine.filter((h) => !mineSet.has(h));
    if (done.length) await ctx.claims.release(scope, owner, done);
    if (mine.length) {
      // Renewed while this job waits for budget and embeds, however long that takes.
      const lease = ctx.claims.hold(scope, owner, mine, (lost) =>
        ctx.logger.warn(
          { jobId: job.id, lost, of: mine.length },
          'embed: claims lapsed while held (the process stalled longer than the claim TTL?); this delivery will not pay for them',
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
    // lapses (its owner stopped renewing: died), then take them over. Bounded
    // by this job's deadline, not by the owner's: a live owner may wait for
    // the budget behind a long backlog.
    await sleepFor(`chunks another job is embedding (${others.length} claims)`, CLAIM_POLL_MS, ctx.signal);
    pending = await filterMissing(ctx.db.pool, key, others);
  }
  result.alreadyEmbedded = result.requested - result.embedded - result.vanished;
  return result;
}
