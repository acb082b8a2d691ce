/**
 * Deletion sync (docs/design.md, "Deletion sync"): after a run over some
 * scopes, remove from the collection the documents of those scopes that the
 * run did not reach — unless the run looks like an outage, which must never
 * empty an index. The decision is a pure function of counts and flags
 * ({@link decideDeletion}); removal goes through the one removal path,
 * src/store/remove.ts.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { type DeletionHeldReason, deletionsHeldTotal } from '../metrics/metrics.ts';
import type { RunFailure } from '../runs/tracker.ts';
import type { RunDeps } from '../runtime/job-context.ts';
import { findCollection } from '../store/documents.ts';
import { removeDocuments } from '../store/remove.ts';
import type { DeletionHeld } from './ingest.ts';

/** What the guards read, gathered at the end of a run. */
export interface DeletionFacts {
  /** Documents of the run's scopes the run did not reach. */
  candidates: number;
  /** Documents of the run's scopes before the run. */
  scopeDocuments: number;
  /** Crawl jobs of the run's scopes that failed for good for a reason a retry might fix (5xx, timeouts). */
  transientFailures: number;
  /** Pages the page limit refused. */
  refusedPages: number;
  /** In-scope links the depth limit cut that the run did not reach otherwise. */
  depthTruncated: number;
  /** REINDEX_MAX_DELETE_FRACTION, 0..1. */
  maxDeleteFraction: number;
  /** Lifts the fraction guard only. */
  allowMassDelete: boolean;
}

export type DeletionDecision =
  | { action: 'nothing' }
  | { action: 'delete' }
  | { action: 'hold'; held: DeletionHeld & { reason: DeletionHeldReason } };

/** How a deletion sync ended: what `IngestSummary` reports. */
export interface DeletionOutcome {
  documentsDeleted: number;
  deletionHeld: DeletionHeld | null;
}

const NOT_OVERRIDDEN = '--allow-mass-delete (allowMassDelete) does not override this';

function percent(n: number): string {
  return `${Math.round(n * 1000) / 10}%`;
}

/**
 * The guards, in order: transient failures in the scope → `transient_failures`;
 * a truncated run (page or depth limit) → `truncated`; more than
 * `maxDeleteFraction` of the scope without `allowMassDelete` → `mass_delete`.
 * `allowMassDelete` lifts only the last one: a run that could not see the
 * whole scope cannot tell a removed page from one it missed.
 * With no candidates there is nothing to delete and nothing is held.
 */
export function decideDeletion(f: DeletionFacts): DeletionDecision {
  if (f.candidates <= 0) return { action: 'nothing' };
  const counts = { candidates: f.candidates, scopeDocuments: f.scopeDocuments };
  const notReached = `${f.candidates} of ${f.scopeDocuments} documents of the scope were not reached`;
  if (f.transientFailures > 0) {
    return {
      action: 'hold',
      held: {
        reason: 'transient_failures',
        ...counts,
        message:
          `deletion held: ${notReached}, but ${f.transientFailures} page(s) of the scope failed for a reason a retry might fix ` +
          `(5xx, timeout), so the source may be down; nothing was deleted. Run again once the source answers ` +
          `(${NOT_OVERRIDDEN}).`,
      },
    };
  }
  if (f.refusedPages > 0 || f.depthTruncated > 0) {
    const cuts = [
      ...(f.refusedPages > 0 ? [`${f.refusedPages} page(s) over the page limit (--max-pages, CRAWL_MAX_PAGES)`] : []),
      ...(f.depthTruncated > 0
        ? [`${f.depthTruncated} link(s) beyond the depth limit (--max-depth, CRAWL_MAX_DEPTH)`]
        : []),
    ];
    return {
      action: 'hold',
      held: {
        reason: 'truncated',
        ...counts,
        message:
          `deletion held: ${notReached}, but the run was truncated (${cuts.join('; ')}), so it did not see the whole ` +
          `scope; nothing was deleted. Raise the limit so the run covers the scope (${NOT_OVERRIDDEN}).`,
      },
    };
  }
  const share = f.scopeDocuments > 0 ? f.candidates / f.scopeDocuments : 1;
  if (share > f.maxDeleteFraction && !f.allowMassDelete) {
    return {
      action: 'hold',
      held: {
        reason: 'mass_delete',
        ...counts,
        message:
          `deletion held: ${notReached} (${percent(share)}), more than REINDEX_MAX_DELETE_FRACTION=${f.maxDeleteFraction} ` +
          `(${percent(f.maxDeleteFraction)}); nothing was deleted. If the source really lost them, run again with ` +
          `--allow-mass-delete (allowMassDelete: true).`,
      },
    };
  }
  return { action: 'delete' };
}

/** True when `uri` lies in `scope`: a prefix ending in "/" (a directory) or the exact URI (one file). */
export function inScope(uri: string, scope: string): boolean {
  if (scope.endsWith('/')) return uri.startsWith(scope) || `${uri}/` === scope;
  return uri === scope;
}

/** A failure's source as a URI: a URL as is, an absolute path as its `file://` URI. */
function failureUri(f: RunFailure): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(f.source)) return f.source;
  if (path.isAbsolute(f.source)) return pathToFileURL(f.source).href;
  return undefined;
}

/**
 * Crawl failures that count against deletion: transient ones (or of unknown
 * kind) whose source is in a scope, or whose source names no URI (a job
 * failed behind the processor's back: it may have been anything). Embed
 * failures do not count: a document is recorded as reached by its crawl job
 * before any embed job exists, so an embed failure cannot make one look
 * unreached.
 */
export function transientFailuresInScope(failures: RunFailure[], scopes: string[]): number {
  return failures.filter((f) => {
    if (f.queue !== 'crawl' || f.transient === false) return false;
    const uri = failureUri(f);
    return uri === undefined || scopes.some((s) => inScope(uri, s));
  }).length;
}

/** `uri LIKE …` patterns of scopes (prefix for a directory, exact for a file), escaped for `ESCAPE '\'`. */
function likePatterns(scopes: string[]): string[] {
  return scopes.map((s) => {
    const escaped = s.replace(/[\\%_]/g, (c) => `\\${c}`);
    return s.endsWith('/') ? `${escaped}%` : escaped;
  });
}

/** Drops scopes inside another scope of the list. */
function outermost(scopes: string[]): string[] {
  return scopes.filter((s) => !scopes.some((o) => o !== s && o.endsWith('/') && s.startsWith(o)));
}

/**
 * Syncs deletions for a finished run: gathers the facts, decides, removes
 * (or holds) and logs one line with the decision. A resumed or repeated call
 * for the same run converges: documents already removed are not found again.
 */
export async function syncDeletions(
  rt: RunDeps,
  run: { runId: string; collection: string },
  options: { allowMassDelete?: boolean | undefined } = {},
): Promise<DeletionOutcome> {
  const { runId, collection } = run;
  const allowMassDelete = options.allowMassDelete ?? false;
  const none: DeletionOutcome = { documentsDeleted: 0, deletionHeld: null };
  const scopes = outermost(await rt.tracker.scopes(runId));
  const collectionId = await findCollection(rt.db.pool, collection);
  if (!scopes.length || collectionId === undefined) {
    rt.logger.info({ runId, collection, scopes, decision: 'nothing' }, 'deletion sync: no scope to sync');
    return none;
  }
  const meta = await rt.tracker.meta(runId);
  // The run's start by the database clock: documents reached since then (by this run, or by another
  // run meanwhile) are not candidates; those created since then were not in the scope before the run.
  const since = meta.dbStartedAt ?? meta.startedAt ?? null;
  const patterns = likePatterns(scopes);
  const inScopes = patterns.map((_, i) => `d.uri LIKE $${i + 4} ESCAPE '\\'`).join(' OR ');
  const { rows } = await rt.db.pool.query<{ id: string; candidate: boolean }>(
    `SELECT d.id,
            (d.last_seen_run IS DISTINCT FROM $2
             AND ($3::timestamptz IS NULL OR d.last_seen_at IS NULL OR d.last_seen_at < $3)) AS candidate
     FROM documents d
     WHERE d.collection_id = $1 AND ($3::timestamptz IS NULL OR d.created_at < $3) AND (${inScopes})`,
    [collectionId, runId, since, ...patterns],
  );
  const candidateIds = rows.filter((r) => r.candidate).map((r) => Number(r.id));
  const [failures, refusedPages, depthTruncated] = await Promise.all([
    rt.tracker.failures(runId),
    rt.tracker.refusedPages(runId),
    rt.tracker.depthTruncated(runId),
  ]);
  const facts: DeletionFacts = {
    candidates: candidateIds.length,
    scopeDocuments: rows.length,
    transientFailures: transientFailuresInScope(failures, scopes),
    refusedPages,
    depthTruncated,
    maxDeleteFraction: rt.config.reindex.maxDeleteFraction,
    allowMassDelete,
  };
  const decision = decideDeletion(facts);
  const logged = { runId, collection, scopes, ...facts, decision: decision.action };
  if (decision.action === 'hold') {
    deletionsHeldTotal.inc({ reason: decision.held.reason });
    rt.logger.warn({ ...logged, reason: decision.held.reason }, decision.held.message);
    return { documentsDeleted: 0, deletionHeld: decision.held };
  }
  if (decision.action === 'nothing') {
    rt.logger.info(logged, 'deletion sync: every document of the scope was reached; nothing to delete');
    return none;
  }
  const { removed } = await removeDocuments(rt.db.pool, {
    collectionId,
    documentIds: candidateIds,
    reason: 'deletion_sync',
    runId,
    unseenSince: since ?? undefined,
  });
  rt.logger.info(
    { ...logged, deleted: removed },
    `deletion sync: removed ${removed} document(s) the run did not reach`,
  );
  return { documentsDeleted: removed, deletionHeld: null };
}
