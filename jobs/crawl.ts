/**
 * The crawl processor: fetch (or read) one document, extract sections,
 * chunk them by tokens, hash (those three in a thread of the text pool,
 * under the CPU limit per document), write the document and its chunks,
 * enqueue an embed job for chunk hashes that have no embedding yet, and fan
 * out to the in-scope links (URLs) or files (directories) it found.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Job } from 'bullmq';
import { fetchDocument, type FetchResult } from '../src/crawl/fetch.ts';
import { followSitemaps } from './crawl-sitemaps.ts';
import { inlineBody, inlineUri } from '../src/crawl/inline.ts';
import { sameScope } from '../src/crawl/links.ts';
import { readLocalDocument, realPathUnderRoots, walkLocalSource } from '../src/crawl/local.ts';
import { RobotsCache } from '../src/crawl/robots.ts';
import type { DocumentKind } from '../src/extract/types.ts';
import { sha256Hex } from '../src/hash/index.ts';
import { OversizeDocumentError, PermanentError, SourceRootError } from '../src/errors/index.ts';
import { costUsd } from '../src/openai/prices.ts';
import type { CrawlPayload, CrawlResult } from '../src/queue/contracts.ts';
import { crawlJobId, embedJobId } from '../src/queue/job-ids.ts';
import type { JobContext } from '../src/runtime/job-context.ts';
import {
  ensureCollection,
  findDocumentInCollection,
  touchUnchanged,
  writeDocument,
  documentStats,
  type ChunkRow,
} from '../src/store/documents.ts';
import type { PageOutcome } from '../src/runs/tracker.ts';
import { missingForDocument, touchForDocument } from '../src/store/embeddings.ts';
import type { ProcessedDocument } from '../src/textpool/task.ts';
import {
  chunksTotal,
  crawlBytesTotal,
  documentsTotal,
  embeddingTokensTotal,
  pagesTotal,
  savedUsdTotal,
} from '../src/metrics/metrics.ts';

/** The text of a fetched or read document, before extraction. */
interface LoadedText {
  uri: string;
  kind: DocumentKind;
  text: string;
  bytes: number;
  /** Body bytes downloaded over HTTP for it (0 for local files and inline documents). */
  downloaded: number;
  etag?: string | undefined;
  lastModified?: string | undefined;
}

// One robots.txt cache per process: robots rules change rarely.
let robotsCache: RobotsCache | undefined;
function robotsFor(ctx: JobContext): RobotsCache {
  robotsCache ??= new RobotsCache({ log: (message) => ctx.logger.warn({ component: 'robots' }, message) });
  return robotsCache;
}

/**
 * Extracts, chunks and hashes a document in the text pool, off this
 * process's event loop (docs/design.md, "CPU limit per document").
 * @param uri what links resolve against (a page's final URL); default the document's URI
 * @throws DocumentCpuLimitError when it takes longer than DOCUMENT_CPU_LIMIT_MS
 */
function processText(
  ctx: JobContext,
  loaded: LoadedText,
  names: { uri?: string; title?: string | undefined; fallbackTitle?: string } = {},
): Promise<ProcessedDocument> {
  return ctx.textPool.process({
    kind: loaded.kind,
    text: loaded.text,
    uri: names.uri ?? loaded.uri,
    title: names.title,
    fallbackTitle: names.fallbackTitle,
    chunk: ctx.config.chunk,
  });
}

function toChunkRows(uri: string, drafts: ProcessedDocument['chunks']): ChunkRow[] {
  return drafts.map((d) => ({
    ordinal: d.ordinal,
    chunkHash: d.chunkHash,
    url: d.anchor ? `${uri}#${d.anchor}` : uri,
    headingPath: d.headingPath,
    text: d.text,
    tokenCount: d.tokenCount,
  }));
}

/**
 * Writes an extracted document, enqueues embedding for its new chunk hashes
 * and records it in the run.
 */
async function indexDocument(
  p: CrawlPayload,
  ctx: JobContext,
  collectionId: number,
  loaded: LoadedText,
  doc: ProcessedDocument,
  links: string[],
  metadata: Record<string, unknown> = {},
): Promise<CrawlResult> {
  const chunks = toChunkRows(loaded.uri, doc.chunks);
  if (!chunks.length) {
    throw new PermanentError(`${loaded.uri}: the document has no text to index (empty after extraction)`);
  }
  const { id, changed } = await writeDocument(ctx.db.pool, {
    collectionId,
    uri: loaded.uri,
    kind: loaded.kind,
    title: doc.title,
    contentHash: sha256Hex(loaded.text),
    bytes: loaded.bytes,
    etag: loaded.etag,
    lastModified: loaded.lastModified,
    links,
    metadata,
    chunks,
    seenByRun: p.runId,
    chunkerVersion: ctx.config.chunk.version,
  });
  const outcome: PageOutcome = changed ? 'written' : 'unchanged';
  const result = await finishDocument(p, ctx, loaded.uri, id, { outcome, bytes: loaded.downloaded });
  documentsTotal.inc({ outcome });
  pagesTotal.inc({ outcome });
  crawlBytesTotal.inc(loaded.downloaded);
  return { ...result, status: outcome };
}

/**
 * A page that did not change — the server answered 304, or its body has the
 * stored content hash and it was cut by the configured chunker version — costs
 * one database statement and one Redis MULTI: no text-pool work, no chunk
 * writes, no embed job unless some of its chunks lost their embeddings
 * (docs/design.md, "Cheap unchanged pages").
 */
async function unchangedDocument(
  p: CrawlPayload,
  ctx: JobContext,
  uri: string,
  documentId: number,
  page: { outcome: 'unchanged' | 'not_modified'; bytes: number },
  validators: { etag?: string | undefined; lastModified?: string | undefined } = {},
): Promise<CrawlResult> {
  const key = { model: ctx.config.embedding.model, dimensions: ctx.config.embedding.dimensions };
  const doc = await touchUnchanged(ctx.db.pool, documentId, p.runId, key, validators);
  let embedJob: string | undefined;
  if (doc.missing.length) {
    const hashes = doc.missing.map((m) => m.chunkHash);
    [embedJob] = await ctx.producer.add(
      'embed',
      [
        {
          jobId: embedJobId(p.runId, uri, hashes),
          payload: { runId: p.runId, collection: p.collection, source: uri, ...key, chunkHashes: hashes },
        },
      ],
      p.runId,
    );
  }
  const stats = { chunks: doc.chunks, tokens: doc.tokens };
  const dedupTokens = stats.tokens - doc.missing.reduce((s, m) => s + m.tokens, 0);
  chunksTotal.inc({ outcome: 'deduplicated' }, stats.chunks - doc.missing.length);
  embeddingTokensTotal.inc({ model: key.model, outcome: 'deduplicated' }, dedupTokens);
  savedUsdTotal.inc({ kind: 'embedding_dedup' }, costUsd(dedupTokens, ctx.config.embedding.priceUsdPerMTok));
  documentsTotal.inc({ outcome: 'unchanged' });
  pagesTotal.inc({ outcome: page.outcome });
  crawlBytesTotal.inc(page.bytes);
  await ctx.tracker.recordDocument(p.runId, uri, stats, page);
  return {
    uri,
    status: page.outcome === 'not_modified' ? 'not-modified' : 'unchanged',
    ...stats,
    ...(embedJob ? { embedJob } : {}),
    children: 0,
  };
}

/** Shared tail of every written document: embed what is missing, record stats. */
async function finishDocument(
  p: CrawlPayload,
  ctx: JobContext,
  uri: string,
  documentId: number,
  page: { outcome: PageOutcome; bytes: number },
): Promise<CrawlResult> {
  const key = { model: ctx.config.embedding.model, dimensions: ctx.config.embedding.dimensions };
  const missing = await missingForDocument(ctx.db.pool, documentId, key);
  const hashes = missing.map((m) => m.chunkHash);
  let embedJob: string | undefined;
  if (missing.length) {
    [embedJob] = await ctx.producer.add(
      'embed',
      [
        {
          jobId: embedJobId(p.runId, uri, hashes),
          payload: { runId: p.runId, collection: p.collection, source: uri, ...key, chunkHashes: hashes },
        },
      ],
      p.runId,
    );
  }
  await touchForDocument(ctx.db.pool, documentId, key);
  const stats = await documentStats(ctx.db.pool, documentId);
  // Dedup: every chunk that will not be sent to OpenAI is work (and money) saved.
  const dedupTokens = stats.tokens - missing.reduce((s, m) => s + m.tokens, 0);
  chunksTotal.inc({ outcome: 'deduplicated' }, stats.chunks - missing.length);
  embeddingTokensTotal.inc({ model: key.model, outcome: 'deduplicated' }, dedupTokens);
  savedUsdTotal.inc({ kind: 'embedding_dedup' }, costUsd(dedupTokens, ctx.config.embedding.priceUsdPerMTok));
  await ctx.tracker.recordDocument(p.runId, uri, stats, page);
  return { uri, status: 'written', ...stats, ...(embedJob ? { embedJob } : {}), children: 0 };
}

/** Claims and enqueues crawl jobs for child URLs or files. @returns how many were enqueued */
async function fanOut(
  job: Job,
  p: CrawlPayload,
  ctx: JobContext,
  children: Array<{ key: string; source: CrawlPayload['source'] }>,
): Promise<number> {
  return (await claimChildren(job, p, ctx, children)).added;
}

/** {@link fanOut}, also saying how many children the run's page limit refused. */
async function claimChildren(
  job: Job,
  p: CrawlPayload,
  ctx: JobContext,
  children: Array<{ key: string; source: CrawlPayload['source'] }>,
): Promise<{ added: number; refused: number }> {
  if (!children.length) return { added: 0, refused: 0 };
  const { claimed, refused } = await ctx.tracker.claimUrls(
    p.runId,
    String(job.id),
    p.limits.maxPages,
    children.map((c) => c.key),
  );
  const wanted = new Set(claimed);
  const jobs = children
    .filter((c) => wanted.has(c.key))
    .map((c) => ({ jobId: crawlJobId(p.runId, c.key), payload: { ...p, source: c.source } }));
  await ctx.producer.add('crawl', jobs, p.runId);
  return { added: jobs.length, refused };
}

async function crawlUrl(
  job: Job,
  p: CrawlPayload,
  ctx: JobContext,
  source: Extract<CrawlPayload['source'], { type: 'url' }>,
): Promise<CrawlResult> {
  const cfg = ctx.config.crawl;
  // What the SSRF guard allows comes from this process's configuration only, never from the payload.
  const fetchOptions = {
    maxBytes: cfg.maxBytes,
    timeoutMs: cfg.timeoutMs,
    maxRedirects: cfg.maxRedirects,
    userAgent: cfg.userAgent,
    allowPrivateNetworks: cfg.allowPrivateNetworks,
    allowHosts: cfg.allowHosts,
    allowNetworks: cfg.allowNetworks,
    dnsServers: cfg.dnsServers,
  };
  if (!(await robotsFor(ctx).isAllowed(source.url, fetchOptions))) {
    throw new PermanentError(
      `GET ${source.url}: disallowed by ${new URL('/robots.txt', source.url)} for user agent "${cfg.userAgent}"`,
    );
  }
  const { collectionId, document: known } = await findDocumentInCollection(ctx.db.pool, p.collection, source.url);
  if (source.depth === 0 && p.limits.maxDepth > 0 && cfg.sitemaps.enabled) {
    // Before this page's links fan out, so the pages the sitemaps list are claimed (and skipped) first.
    const pass = await followSitemaps(job, p, ctx, source, robotsFor(ctx), fetchOptions, collectionId);
    if (pass.sitemaps) ctx.logger.info({ component: 'sitemap', url: source.url, ...pass }, 'sitemap pass');
  }
  // A document cut by another chunker version must be re-chunked: fetch it whole (no validators).
  const current = known !== undefined && known.chunkerVersion === ctx.config.chunk.version;
  const fetched: FetchResult = await fetchDocument(source.url, {
    ...fetchOptions,
    scope: source.scope,
    ...(current && known.etag ? { etag: known.etag } : {}),
    ...(current && known.lastModified ? { lastModified: known.lastModified } : {}),
  });

  let result: CrawlResult;
  let links: string[];
  if (fetched.status === 'not-modified') {
    if (!known || !current) throw new Error(`GET ${source.url}: 304 Not Modified to a request without validators`);
    links = known.links;
    result = await unchangedDocument(p, ctx, source.url, known.id, { outcome: 'not_modified', bytes: 0 });
  } else if (current && fetched.url === source.url && known.contentHash === sha256Hex(fetched.text)) {
    links = known.links;
    result = await unchangedDocument(
      p,
      ctx,
      source.url,
      known.id,
      { outcome: 'unchanged', bytes: fetched.bytes },
      { etag: fetched.etag, lastModified: fetched.lastModified },
    );
  } else {
    // A redirect (inside the scope: fetchDocument refuses others) is indexed under the URL whose content
    // it is, so a URL never holds another page's text; the requested URL then has no document and
    // deletion sync may remove what it held before.
    const loaded: LoadedText = {
      uri: fetched.url,
      kind: fetched.kind,
      text: fetched.text,
      bytes: fetched.bytes,
      downloaded: fetched.bytes,
      etag: fetched.etag,
      lastModified: fetched.lastModified,
    };
    const doc = await processText(ctx, loaded, { uri: fetched.url });
    links = doc.links.filter((l) => sameScope(source.scope, l));
    result = await indexDocument(p, ctx, collectionId, loaded, doc, links);
  }
  if (source.depth < p.limits.maxDepth) {
    result.children = await fanOut(
      job,
      p,
      ctx,
      links.map((url) => ({
        key: url,
        source: { type: 'url' as const, url, scope: source.scope, depth: source.depth + 1 },
      })),
    );
  } else if (links.length) {
    // The depth limit cut these links: unless another page of the run reaches them, the run was truncated
    // and deletion sync must not read their absence as removal (docs/design.md, "Deletion sync").
    await ctx.tracker.recordDepthCut(p.runId, links);
  }
  return result;
}

/** Files offered to the run's claims at once while a directory is listed: one bounded Lua call each. */
const LIST_BATCH = 500;

async function crawlPath(job: Job, p: CrawlPayload, ctx: JobContext, filePath: string): Promise<CrawlResult> {
  const { roots, maxFiles } = ctx.config.sources;
  // This worker's own SOURCE_ROOTS decide, whatever the producer checked (docs/design.md, "Source roots").
  await realPathUnderRoots(filePath, roots);
  const uri = pathToFileURL(filePath).toString();
  const files = walkLocalSource(filePath, { maxFiles: maxFiles + 1 });
  const first = await files.next();
  if (!first.done && path.resolve(first.value) === path.resolve(filePath)) {
    const read = await readLocalDocument(filePath, ctx.config.crawl.maxBytes, roots);
    const collectionId = await ensureCollection(ctx.db.pool, p.collection);
    const loaded: LoadedText = {
      uri: read.uri,
      kind: read.kind,
      text: read.text,
      bytes: Buffer.byteLength(read.text),
      downloaded: 0,
    };
    return indexDocument(p, ctx, collectionId, loaded, await processText(ctx, loaded), []);
  }
  if (first.done)
    throw new PermanentError(`${filePath}: no supported files (.html .htm .md .markdown .txt .rst) found`);
  // Streamed: claimed and enqueued LIST_BATCH files at a time; the listing stops once the run's page
  // limit refuses files (the refusal is recorded, so the run counts as truncated) or at SOURCE_MAX_FILES.
  let listed = 0;
  let children = 0;
  let batch: string[] = [first.value];
  let done = false;
  /** Claims the batch; false once the page limit refused some (the rest could not be claimed either). */
  const flush = async (): Promise<boolean> => {
    const offered = batch.map((f) => ({
      key: pathToFileURL(f).toString(),
      source: { type: 'path' as const, path: f },
    }));
    batch = [];
    const { added, refused } = await claimChildren(job, p, ctx, offered);
    children += added;
    return refused === 0;
  };
  while (!done) {
    const next = await files.next();
    if (next.done) break;
    if (++listed >= maxFiles) {
      await flush();
      await files.return(undefined);
      throw new PermanentError(
        `${filePath}: over SOURCE_MAX_FILES=${maxFiles} files; the listing stopped there (${children} files enqueued). Name subdirectories as sources, or raise SOURCE_MAX_FILES`,
      );
    }
    batch.push(next.value);
    if (batch.length >= LIST_BATCH && !(await flush())) done = true;
  }
  if (done) await files.return(undefined);
  else if (batch.length) await flush();
  return { uri, status: 'listed', chunks: 0, tokens: 0, children };
}

async function crawlInline(
  p: CrawlPayload,
  ctx: JobContext,
  source: Extract<CrawlPayload['source'], { type: 'inline' }>,
): Promise<CrawlResult> {
  const d = source.document;
  const { kind, text } = inlineBody(d);
  const bytes = Buffer.byteLength(text);
  // Checked by the producer too; a payload written by another producer is held to this worker's limit.
  if (bytes > ctx.config.crawl.maxBytes) {
    throw new OversizeDocumentError(
      `${inlineUri(d)}: inline document is ${bytes} bytes, over the limit of ${ctx.config.crawl.maxBytes} bytes (CRAWL_MAX_BYTES); split it or raise CRAWL_MAX_BYTES`,
    );
  }
  const loaded: LoadedText = { uri: inlineUri(d), kind, text, bytes, downloaded: 0 };
  const doc = await processText(ctx, loaded, { title: d.title, fallbackTitle: d.id });
  const collectionId = await ensureCollection(ctx.db.pool, p.collection);
  return indexDocument(p, ctx, collectionId, loaded, doc, [], d.metadata ?? {});
}

/** Processes one crawl job. Errors are classified by the worker wrapper. */
export async function processCrawl(job: Job, p: CrawlPayload, ctx: JobContext): Promise<CrawlResult> {
  const s = p.source;
  switch (s.type) {
    case 'url':
      return crawlUrl(job, p, ctx, s);
    case 'path':
      return crawlPath(job, p, ctx, s.path);
    case 'inline':
      return crawlInline(p, ctx, s);
    case 'invalid':
      throw invalidSourceError(s);
  }
}

/** The error an invalid source fails with: the class its producer named, else a PermanentError. */
function invalidSourceError(s: Extract<CrawlPayload['source'], { type: 'invalid' }>): Error {
  if (s.error === 'SourceRootError') return new SourceRootError(s.input, s.reason, { reason: 'outside-root' });
  if (s.error === 'OversizeDocumentError') return new OversizeDocumentError(s.reason);
  const err = new PermanentError(s.reason);
  if (s.error === 'CredentialsInUrlError') err.name = s.error;
  return err;
}

/** A human name for the source of a crawl payload, for failure reports. */
export function describeCrawlSource(p: CrawlPayload): string {
  const s = p.source;
  if (s.type === 'url') return s.url;
  if (s.type === 'path') return s.path;
  if (s.type === 'inline') return inlineUri(s.document);
  return s.input;
}
