/**
 * `npm run bench:reindex` — what a re-index costs (issue 12), for the
 * content-defined chunker (version 2, "new") and the greedy one (version 1,
 * "old"), side by side in one run. A script that prints figures; nothing
 * here asserts.
 *
 * For each chunker version, in its own schema and queue prefix, on its own
 * copy of PostgreSQL's HTML manual served over loopback (ETag, Last-Modified,
 * 304), with the machine's Redis and PostgreSQL + pgvector and the emulator:
 * 1. first crawl of the manual (from index.html);
 * 2. recall@5 and MRR on the bookindex query set (test/fixtures/bookindex-queries.json,
 *    see ./bookindex.ts): a hit is a result on one of the pages the index links
 *    the term to. The emulator's vectors reward shared words: compare the
 *    chunkers, not absolute quality;
 * 3. an unchanged re-crawl: body bytes downloaded and wall time ÷ the first
 *    crawl's, tokens embedded;
 * 4. 5 % of the pages edited (seeded, the same pages and edits for both
 *    versions): one paragraph inserted before the middle paragraph of the
 *    page, one sentence added to a paragraph a quarter in; a re-crawl; per
 *    edited page, the chunks whose text is new (re-embedded) — median and
 *    p95 — and their tokens;
 * 5. (old schema only) the switch to version 2: a re-crawl with
 *    CHUNKER_VERSION=2 re-chunks every page once and embeds only the chunks
 *    whose text changed.
 * Steps 3 and 4 run with and without a sitemap: the manual has none, so the
 * bench writes a generated `/sitemap.xml` beside it (the pages the first
 * crawl reached, `<lastmod>` = each file's true mtime, ms precision) after the
 * first crawl and the sitemap-less re-crawl, and writes it again after the
 * edits (the edited files' mtimes moved). The first crawl finds no sitemap
 * (404), as before.
 *
 * Flags: --pages N (crawl at most N pages: a quick run; default all),
 *        --edit-fraction 0.05, --seed 12.
 * Needs Redis on 127.0.0.1:6379, PostgreSQL with pgvector (TEST_REDIS_URL /
 * TEST_DATABASE_URL override them) and the manual (`apt-get install -y
 * postgresql-doc-15`). Its schemas, Redis keys and temp dirs are removed at the end.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PG_MANUAL_DIR, requireManual, serveDirectory, type StaticServer } from '../../src/demo/static-server.ts';
import { ingest, type IngestSummary } from '../../src/ingest/ingest.ts';
import type { Runtime } from '../../src/runtime/runtime.ts';
import { search } from '../../src/search/search.ts';
import { withRuntime } from '../helpers/runtime.ts';
import { isolate, requirePostgres, requireRedis, type TestIsolation } from '../helpers/services.ts';
import { loadQueries } from './bookindex.ts';

const { values: flags } = parseArgs({
  options: {
    pages: { type: 'string' },
    'edit-fraction': { type: 'string', default: '0.05' },
    seed: { type: 'string', default: '12' },
  },
});
const maxPages = flags.pages ? Number(flags.pages) : 100_000;
const editFraction = Number(flags['edit-fraction']);
const COLLECTION = 'pgdocs';

function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
}

/** Chunk hashes and their tokens per document URI. */
async function chunksByDoc(rt: Runtime): Promise<Map<string, Map<string, number>>> {
  const { rows } = await rt.db.pool.query<{ uri: string; h: string; t: number }>(
    `SELECT d.uri, c.chunk_hash AS h, c.token_count AS t FROM chunks c JOIN documents d ON d.id = c.document_id`,
  );
  const out = new Map<string, Map<string, number>>();
  for (const r of rows) {
    if (!out.has(r.uri)) out.set(r.uri, new Map());
    out.get(r.uri)!.set(r.h, r.t);
  }
  return out;
}

/** Inserts a paragraph before the middle <p> of a page and adds a sentence to a paragraph a quarter in. */
function editPage(html: string, n: number): string | null {
  const starts = [...html.matchAll(/<p>/g)].map((m) => m.index);
  if (starts.length < 4) return null;
  const mid = starts[Math.floor(starts.length / 2)]!;
  const quarter = starts[Math.floor(starts.length / 4)]!;
  const close = html.indexOf('</p>', quarter);
  if (close < 0 || close > mid) return null;
  const sentence = ` This sentence was added by edit ${n} to see what a small change costs.`;
  const paragraph = `<p>Edit ${n} inserts this paragraph: the planner, vacuum and the buffer cache behave as described below, with the details in the following sections.</p>`;
  return html.slice(0, close) + sentence + html.slice(close, mid) + paragraph + html.slice(mid);
}

const q = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]! : Number.NaN;
};

/** Writes `/sitemap.xml` listing `pages` (file names in `dir`) with their files' mtimes as `<lastmod>`. */
function writeSitemap(dir: string, base: string, pages: Iterable<string>): number {
  const urls = [...pages]
    .sort()
    .map(
      (p) =>
        `<url><loc>${base}/${p}</loc><lastmod>${fs.statSync(path.join(dir, p)).mtime.toISOString()}</lastmod></url>`,
    );
  const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n${urls.join('\n')}\n</urlset>\n`;
  fs.writeFileSync(path.join(dir, 'sitemap.xml'), xml);
  return Buffer.byteLength(xml);
}

/** Requests the static server answered during `fn`, and the body bytes it sent. */
async function counted<T>(
  site: StaticServer,
  fn: () => Promise<T>,
): Promise<{ value: T; requests: number; bodyBytes: number }> {
  const r = site.stats.requests;
  const b = site.stats.bodyBytes;
  const value = await fn();
  return { value, requests: site.stats.requests - r, bodyBytes: site.stats.bodyBytes - b };
}

interface Figures {
  first: IngestSummary;
  unchanged: IngestSummary;
  /** The unchanged re-crawl with the sitemap, and the requests the server answered during it. */
  unchangedSitemap: IngestSummary;
  unchangedSitemapRequests: number;
  sitemapBytes: number;
  /** The edited re-crawl (with the sitemap): requests the server answered. */
  editedRequests: number;
  edited: IngestSummary;
  editedPages: number;
  perPageChunks: number[];
  perPageTokens: number[];
  recall5: number;
  mrr: number;
  queries: number;
  /** changedChunks: new chunk texts not among the old chunks; neverEmbedded: of those, the ones with no embedding yet. */
  switch?: { summary: IngestSummary; changedChunks: number; neverEmbedded: number };
}

async function runVersion(version: number, dir: string, site: StaticServer, iso: TestIsolation): Promise<Figures> {
  const source = `${site.url}/index.html`;
  const log = (m: string) => process.stderr.write(`[v${version}] ${m}\n`);
  return withRuntime({ ...iso.env, CHUNKER_VERSION: String(version), LOG_LEVEL: 'silent' }, async (rt) => {
    const first = await ingest(rt, { collection: COLLECTION, sources: [source], maxPages });
    log(`first crawl: ${first.documents} pages, ${first.chunks} chunks, ${first.durationSeconds} s`);

    // Retrieval quality on the bookindex queries whose pages were crawled.
    const crawled = new Set(
      (await rt.db.pool.query<{ uri: string }>(`SELECT uri FROM documents`)).rows.map((r) =>
        path.basename(new URL(r.uri).pathname),
      ),
    );
    const queries = loadQueries().filter((x) => x.pages.some((p) => crawled.has(p)));
    let found = 0;
    let rr = 0;
    for (const x of queries) {
      const hits = await search(rt, x.query, { collection: COLLECTION, k: 5 });
      const rank = hits.findIndex((h) => x.pages.includes(path.basename(new URL(h.url).pathname)));
      if (rank >= 0) {
        found++;
        rr += 1 / (rank + 1);
      }
    }

    const unchanged = await ingest(rt, { collection: COLLECTION, sources: [source], maxPages });
    log(`unchanged re-crawl: ${unchanged.durationSeconds} s`);
    const sitemapBytes = writeSitemap(dir, site.url, crawled);
    const withSitemap = await counted(site, () => ingest(rt, { collection: COLLECTION, sources: [source], maxPages }));
    const unchangedSitemap = withSitemap.value;
    log(
      `unchanged re-crawl with the sitemap: ${unchangedSitemap.durationSeconds} s, ${unchangedSitemap.pagesSkippedBySitemap} skipped, ${withSitemap.requests} requests`,
    );

    // 5 % of the crawled pages, the same for both versions (seeded, from the sorted page list).
    const random = rng(Number(flags.seed));
    const candidates = [...crawled].sort();
    const chosen = new Set<string>();
    const wanted = Math.max(1, Math.round(candidates.length * editFraction));
    let attempts = 0;
    while (chosen.size < wanted && attempts++ < candidates.length * 10) {
      const page = candidates[Math.floor(random() * candidates.length)]!;
      if (chosen.has(page)) continue;
      const file = path.join(dir, page);
      const edited = editPage(fs.readFileSync(file, 'utf8'), chosen.size);
      if (edited === null) continue;
      fs.writeFileSync(file, edited);
      chosen.add(page);
    }
    writeSitemap(dir, site.url, crawled);
    const before = await chunksByDoc(rt);
    const editedRun = await counted(site, () => ingest(rt, { collection: COLLECTION, sources: [source], maxPages }));
    const edited = editedRun.value;
    const after = await chunksByDoc(rt);
    const perPageChunks: number[] = [];
    const perPageTokens: number[] = [];
    for (const [uri, hashes] of after) {
      if (!chosen.has(path.basename(new URL(uri).pathname))) continue;
      const old = before.get(uri) ?? new Map();
      let chunks = 0;
      let tokens = 0;
      for (const [h, t] of hashes) {
        if (old.has(h)) continue;
        chunks++;
        tokens += t;
      }
      perPageChunks.push(chunks);
      perPageTokens.push(tokens);
    }
    log(`edited re-crawl: ${chosen.size} pages edited, ${edited.durationSeconds} s`);
    return {
      first,
      unchanged,
      unchangedSitemap,
      unchangedSitemapRequests: withSitemap.requests,
      sitemapBytes,
      editedRequests: editedRun.requests,
      edited,
      editedPages: chosen.size,
      perPageChunks,
      perPageTokens,
      recall5: queries.length ? found / queries.length : Number.NaN,
      mrr: queries.length ? rr / queries.length : Number.NaN,
      queries: queries.length,
    };
  });
}

async function main(): Promise<void> {
  requireManual();
  await requireRedis();
  await requirePostgres();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-reindex-'));
  const isos: TestIsolation[] = [];
  const sites: StaticServer[] = [];
  const results = new Map<number, Figures>();
  try {
    for (const version of [2, 1]) {
      const dir = path.join(tmp, `v${version}`);
      fs.cpSync(PG_MANUAL_DIR, dir, { recursive: true });
      const site = await serveDirectory(dir);
      sites.push(site);
      const iso = isolate();
      isos.push(iso);
      const figures = await runVersion(version, dir, site, iso);
      if (version === 1) {
        // The one-time re-chunk after switching the old schema to version 2.
        figures.switch = await withRuntime({ ...iso.env, CHUNKER_VERSION: '2', LOG_LEVEL: 'silent' }, async (rt) => {
          const before = await chunksByDoc(rt);
          const known = new Set([...before.values()].flatMap((m) => [...m.keys()]));
          // Embeddings are content-addressed and outlive the chunks that used them (the edit step's old texts).
          const embedded = new Set(
            (await rt.db.pool.query<{ h: string }>(`SELECT chunk_hash AS h FROM embeddings`)).rows.map((r) => r.h),
          );
          const summary = await ingest(rt, { collection: COLLECTION, sources: [`${site.url}/index.html`], maxPages });
          const after = await chunksByDoc(rt);
          const fresh = new Set([...after.values()].flatMap((m) => [...m.keys()]));
          const changed = [...fresh].filter((h) => !known.has(h));
          return {
            summary,
            changedChunks: changed.length,
            neverEmbedded: changed.filter((h) => !embedded.has(h)).length,
          };
        });
      }
      results.set(version, figures);
    }
    print(results.get(2)!, results.get(1)!);
  } finally {
    for (const s of sites) await s.close();
    for (const i of isos) await i.cleanup();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function print(v2: Figures, v1: Figures): void {
  const pct = (a: number, b: number) => (b > 0 ? `${((100 * a) / b).toFixed(2)} %` : 'n/a');
  const rows: Array<[string, (f: Figures) => string]> = [
    ['pages crawled (first crawl)', (f) => String(f.first.documents)],
    [
      'chunks / tokens (first crawl)',
      (f) => `${f.first.chunks} / ${f.first.tokensEmbedded + f.first.tokensDeduplicated}`,
    ],
    ['first crawl: wall s, body bytes', (f) => `${f.first.durationSeconds} s, ${f.first.bytesDownloaded}`],
    [
      'unchanged, no sitemap: 304 / unchanged / by sitemap',
      (f) => `${f.unchanged.pagesNotModified} / ${f.unchanged.pagesUnchanged} / ${f.unchanged.pagesSkippedBySitemap}`,
    ],
    [
      'unchanged, no sitemap: body bytes ÷ first',
      (f) => `${pct(f.unchanged.bytesDownloaded, f.first.bytesDownloaded)} (${f.unchanged.bytesDownloaded} B)`,
    ],
    ['unchanged, no sitemap: tokens embedded', (f) => String(f.unchanged.tokensEmbedded)],
    [
      'unchanged, no sitemap: wall ÷ first',
      (f) => `${pct(f.unchanged.durationSeconds, f.first.durationSeconds)} (${f.unchanged.durationSeconds} s)`,
    ],
    ['sitemap (generated): entries, bytes', (f) => `${f.first.documents}, ${f.sitemapBytes}`],
    [
      'unchanged + sitemap: skipped / 304 / requests',
      (f) =>
        `${f.unchangedSitemap.pagesSkippedBySitemap} / ${f.unchangedSitemap.pagesNotModified} / ${f.unchangedSitemapRequests}`,
    ],
    [
      'unchanged + sitemap: body bytes ÷ first',
      (f) =>
        `${pct(f.unchangedSitemap.bytesDownloaded, f.first.bytesDownloaded)} (${f.unchangedSitemap.bytesDownloaded} B)`,
    ],
    ['unchanged + sitemap: tokens embedded', (f) => String(f.unchangedSitemap.tokensEmbedded)],
    [
      'unchanged + sitemap: wall ÷ first',
      (f) =>
        `${pct(f.unchangedSitemap.durationSeconds, f.first.durationSeconds)} (${f.unchangedSitemap.durationSeconds} s)`,
    ],
    ['edited pages (of crawled)', (f) => String(f.editedPages)],
    [
      'edited + sitemap: skipped / fetched, requests, wall',
      (f) =>
        `${f.edited.pagesSkippedBySitemap} / ${f.edited.documents - f.edited.pagesSkippedBySitemap}, ${f.editedRequests}, ${f.edited.durationSeconds} s`,
    ],
    [
      're-embedded chunks / edited page: median, p95, max',
      (f) => `${q(f.perPageChunks, 0.5)}, ${q(f.perPageChunks, 0.95)}, ${Math.max(...f.perPageChunks)}`,
    ],
    ['tokens embedded / edited page: median, p95', (f) => `${q(f.perPageTokens, 0.5)}, ${q(f.perPageTokens, 0.95)}`],
    ['edited re-crawl: tokens embedded (run)', (f) => String(f.edited.tokensEmbedded)],
    [`recall@5 (bookindex queries)`, (f) => `${f.recall5.toFixed(3)} of ${f.queries}`],
    ['MRR (top 5)', (f) => f.mrr.toFixed(3)],
  ];
  const w = Math.max(...rows.map(([r]) => r.length));
  const lines = [`${'figure'.padEnd(w)}  ${'new (v2)'.padEnd(28)}  old (v1)`];
  for (const [label, get] of rows) lines.push(`${label.padEnd(w)}  ${get(v2).padEnd(28)}  ${get(v1)}`);
  const s = v1.switch!;
  lines.push(
    '',
    `switch old → new (CHUNKER_VERSION=2 on the old schema): ${s.summary.documents} pages re-chunked, ` +
      `${s.summary.chunks} chunks; ${s.summary.chunksEmbedded} embedded (${s.summary.tokensEmbedded} tokens) = ` +
      `${s.neverEmbedded} chunk texts never embedded before, of ${s.changedChunks} not in the old chunks ` +
      `(the rest already had embeddings: texts of chunks the edits replaced); ${s.summary.chunksDeduplicated} reused`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
