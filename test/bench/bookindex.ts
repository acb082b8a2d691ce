/**
 * The retrieval query set of `npm run bench:reindex` (issue 12, goal 4):
 * PostgreSQL's manual ships its own index (`bookindex.html`: links from
 * index terms to page anchors). Each entry here is an index term (a
 * secondary term prefixed with its primary: "aggregate function moving
 * aggregate") and the pages it links to. A seeded sample of {@link SAMPLE}
 * terms is kept in test/fixtures/bookindex-queries.json, so every run of the
 * bench asks the same questions; regenerate it with
 *   node test/bench/bookindex.ts --write
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { load } from 'cheerio';
import { PG_MANUAL_DIR } from '../../src/demo/static-server.ts';

export interface IndexQuery {
  /** The index term, as a query. */
  query: string;
  /** Pages the index links the term to (file names, e.g. `sql-createindex.html`). */
  pages: string[];
}

/** Terms sampled into the fixture. */
export const SAMPLE = 300;
const SEED = 12;
export const FIXTURE = path.resolve(import.meta.dirname, '../fixtures/bookindex-queries.json');

/** Every index term of bookindex.html with its target pages. */
export function indexTerms(html: string): IndexQuery[] {
  const $ = load(html);
  const out: IndexQuery[] = [];
  $('dt').each((_, dt) => {
    const own = $(dt)
      .contents()
      .filter((_, n) => n.type === 'text')
      .text()
      .replace(/[,\s]+$/, '')
      .replace(/\s+/g, ' ')
      .trim();
    const pages = [
      ...new Set(
        $(dt)
          .find('a.indexterm')
          .map((_, a) => ($(a).attr('href') ?? '').split('#')[0]!)
          .get()
          .filter((p) => p.endsWith('.html')),
      ),
    ];
    if (!own || !pages.length) return;
    // A secondary term (inside the <dd> of a primary one) is asked with its primary term.
    const parentDt = $(dt).parent('dl').parent('dd').prev('dt');
    const primary = parentDt.length
      ? parentDt
          .contents()
          .filter((_, n) => n.type === 'text')
          .text()
          .replace(/[,\s]+$/, '')
          .replace(/\s+/g, ' ')
          .trim()
      : '';
    out.push({ query: primary ? `${primary} ${own}` : own, pages });
  });
  return out;
}

/** A seeded sample of `n` terms (deterministic: the same manual gives the same sample). */
export function sampleTerms(all: IndexQuery[], n: number, seed = SEED): IndexQuery[] {
  let x = seed;
  const next = (): number => (x = (x * 1103515245 + 12345) % 2147483648);
  const pool = [...all];
  const out: IndexQuery[] = [];
  while (out.length < n && pool.length) out.push(pool.splice(next() % pool.length, 1)[0]!);
  return out;
}

export function loadQueries(): IndexQuery[] {
  return JSON.parse(readFileSync(FIXTURE, 'utf8')) as IndexQuery[];
}

if (import.meta.url === `file://${process.argv[1]}` && process.argv.includes('--write')) {
  const all = indexTerms(readFileSync(path.join(PG_MANUAL_DIR, 'bookindex.html'), 'utf8'));
  const sample = sampleTerms(all, SAMPLE);
  writeFileSync(FIXTURE, `${JSON.stringify(sample, null, 1)}\n`);
  process.stdout.write(`${all.length} index terms, ${sample.length} sampled into ${FIXTURE}\n`);
}
