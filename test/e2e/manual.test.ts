/**
 * End to end on real documentation: the sluice CLI ingests PostgreSQL's
 * HTML manual (1,169 pages) served over HTTP on loopback, into the machine's
 * PostgreSQL with pgvector, embedding through the emulator over HTTP.
 * Then: search, export fragments, dedup on re-runs, and an ingest killed
 * with SIGKILL midway that converges to the uninterrupted result.
 */
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, spawnCli } from '../helpers/cli.ts';
import { isolate, requirePostgres, requireRedis, TEST_DATABASE_URL, type TestIsolation } from '../helpers/services.ts';
import { PG_MANUAL_DIR, requireManual, serveDirectory, type StaticServer } from '../helpers/static-server.ts';

const MANUAL_PAGES = 1169;

let site: StaticServer;
let a: TestIsolation;
let b: TestIsolation;
let db: pg.Client;

beforeAll(async () => {
  requireManual();
  await requireRedis();
  await requirePostgres();
  site = await serveDirectory(PG_MANUAL_DIR);
  a = isolate();
  b = isolate();
  db = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await db.connect();
});

afterAll(async () => {
  await db?.end();
  await site?.close();
  await a?.cleanup();
  await b?.cleanup();
});

function ingestArgs(collection: string): string[] {
  return ['ingest', `${site.url}/index.html`, '--collection', collection, '--json'];
}

async function ingestJson(iso: TestIsolation, collection: string) {
  const r = await runCli(ingestArgs(collection), iso.env);
  if (r.code !== 0) throw new Error(`ingest exited ${r.code}: ${r.stderr.slice(-2000)}\n${r.stdout.slice(0, 2000)}`);
  const lines = r.stdout.trim().split('\n');
  expect(lines).toHaveLength(1); // exactly one JSON object on stdout
  return JSON.parse(lines[0]!);
}

/** The chunks of collection pgdocs and all embeddings of a schema. */
async function snapshot(schema: string) {
  const chunks = await db.query<{ k: string }>(
    `SELECT d.uri || '|' || c.ordinal || '|' || c.chunk_hash AS k FROM "${schema}".chunks c
     JOIN "${schema}".documents d ON d.id = c.document_id JOIN "${schema}".collections k ON k.id = d.collection_id
     WHERE k.name = 'pgdocs' ORDER BY 1`,
  );
  const embeddings = await db.query<{ k: string }>(`SELECT chunk_hash AS k FROM "${schema}".embeddings ORDER BY 1`);
  return { chunks: chunks.rows.map((r) => r.k), embeddings: embeddings.rows.map((r) => r.k) };
}

describe('the PostgreSQL manual through the CLI', () => {
  it('ingests every page with no failures', async () => {
    const s = await ingestJson(a, 'pgdocs');
    expect(s.failed).toEqual([]);
    expect(s.documents).toBe(MANUAL_PAGES);
    expect(s.chunks).toBeGreaterThan(MANUAL_PAGES);
    expect(s.chunksEmbedded).toBeGreaterThan(0);
    expect(Object.keys(s).sort()).toEqual(
      expect.arrayContaining([
        'collection',
        'documents',
        'chunks',
        'chunksEmbedded',
        'chunksDeduplicated',
        'tokensEmbedded',
        'tokensDeduplicated',
        'failed',
        'durationSeconds',
      ]),
    );
    console.log('first ingest', JSON.stringify(s));
  }, 900_000);

  it('finds sql-createindex.html in the top 5 for "CREATE INDEX CONCURRENTLY"', async () => {
    const r = await runCli(['search', 'CREATE INDEX CONCURRENTLY', '--collection', 'pgdocs', '--json'], a.env);
    expect(r.code, r.stderr).toBe(0);
    const hits = JSON.parse(r.stdout) as Array<{
      url: string;
      score: number;
      headingPath: string[];
      title: string;
      text: string;
    }>;
    expect(hits).toHaveLength(5);
    expect(
      hits.some((h) => h.url.includes('/sql-createindex.html')),
      JSON.stringify(hits.map((h) => h.url)),
    ).toBe(true);
  });

  it('exports fragments that name ids present in their pages', async () => {
    const r = await runCli(['export', 'pgdocs'], a.env);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { url: string; chunkHash: string; tokenCount: number });
    expect(lines.length).toBeGreaterThan(MANUAL_PAGES);
    const pages = new Map<string, string>();
    let fragments = 0;
    for (const { url } of lines) {
      const hash = url.indexOf('#');
      if (hash < 0) continue;
      fragments++;
      const file = path.join(PG_MANUAL_DIR, new URL(url).pathname);
      if (!pages.has(file)) pages.set(file, fs.readFileSync(file, 'utf8'));
      const id = url.slice(hash + 1);
      const html = pages.get(file)!;
      expect(html.includes(`id="${id}"`) || html.includes(`name="${id}"`), url).toBe(true);
    }
    expect(fragments).toBeGreaterThan(MANUAL_PAGES);
  }, 120_000);

  it('embeds 0 tokens when run again, and 0 tokens for a second collection', async () => {
    const again = await ingestJson(a, 'pgdocs');
    expect(again).toMatchObject({ documents: MANUAL_PAGES, tokensEmbedded: 0, chunksEmbedded: 0, failed: [] });
    const second = await ingestJson(a, 'pgdocs-copy');
    expect(second).toMatchObject({ documents: MANUAL_PAGES, tokensEmbedded: 0, chunksEmbedded: 0, failed: [] });
    console.log('second ingest', JSON.stringify(again), 'second collection', JSON.stringify(second));
  }, 900_000);

  it('converges after SIGKILL midway: exactly the chunks and embeddings of the uninterrupted run', async () => {
    const child = spawnCli(ingestArgs('pgdocs'), b.env);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    // Wait until about a third of the embeddings are written, then kill without warning.
    const reference = await snapshot(a.schema);
    const deadline = Date.now() + 600_000;
    for (;;) {
      const n = await db.query(`SELECT count(*)::int AS n FROM "${b.schema}".embeddings`).then(
        (r) => r.rows[0].n as number,
        () => 0,
      );
      if (n > reference.embeddings.length / 3) break;
      if (Date.now() > deadline || child.exitCode !== null)
        throw new Error(`ingest ended or stalled before the kill: ${stderr.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));
    const partial = await snapshot(b.schema);
    expect(partial.embeddings.length).toBeLessThan(reference.embeddings.length);

    const resumed = await ingestJson(b, 'pgdocs');
    expect(resumed.failed).toEqual([]);
    const final = await snapshot(b.schema);
    expect(final.chunks.length).toBe(reference.chunks.length);
    expect(final.chunks).toEqual(reference.chunks);
    expect(final.embeddings).toEqual(reference.embeddings);
    const dupes = await db.query(
      `SELECT count(*)::int AS n, count(DISTINCT (document_id, ordinal))::int AS d FROM "${b.schema}".chunks`,
    );
    expect(dupes.rows[0].n).toBe(dupes.rows[0].d);
    console.log(
      'killed at',
      partial.embeddings.length,
      'of',
      reference.embeddings.length,
      'embeddings; resumed:',
      JSON.stringify(resumed),
    );
  }, 1_200_000);
});
