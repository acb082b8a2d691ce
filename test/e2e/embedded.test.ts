/**
 * The embedded default end to end: no DATABASE_URL and no OPENAI_API_KEY,
 * so the CLI runs PGlite + pgvector under DATA_DIR and the built-in
 * emulator. Real input: the first pages of PostgreSQL's manual over HTTP.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';
import { isolate, requireRedis, type TestIsolation } from '../helpers/services.ts';
import { PG_MANUAL_DIR, requireManual, serveDirectory, type StaticServer } from '../helpers/static-server.ts';

let site: StaticServer;
let iso: TestIsolation;
let dataDir: string;
let env: Record<string, string>;

beforeAll(async () => {
  requireManual();
  await requireRedis();
  site = await serveDirectory(PG_MANUAL_DIR);
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-embedded-'));
  iso = isolate({}, { postgres: false });
  env = { ...iso.env, DATA_DIR: dataDir };
});

afterAll(async () => {
  await site?.close();
  await iso?.cleanup();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('embedded defaults (PGlite + emulator)', () => {
  it('ingests, searches, exports and dedups', async () => {
    const first = await runCli(
      ['ingest', `${site.url}/index.html`, '--collection', 'pgdocs', '--max-pages', '60', '--json'],
      env,
    );
    expect(first.code, first.stderr).toBe(0);
    const s = JSON.parse(first.stdout);
    expect(s).toMatchObject({ collection: 'pgdocs', documents: 60, failed: [] });
    expect(s.embeddingsFrom).toMatch(/^emulator/);
    expect(s.tokensEmbedded).toBeGreaterThan(0);
    expect(fs.existsSync(path.join(dataDir, 'pglite'))).toBe(true);

    const again = await runCli(
      ['ingest', `${site.url}/index.html`, '--collection', 'pgdocs', '--max-pages', '60', '--json'],
      env,
    );
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ documents: 60, tokensEmbedded: 0, failed: [] });

    const found = await runCli(
      ['search', 'SQL commands reference', '--collection', 'pgdocs', '--k', '3', '--json'],
      env,
    );
    expect(found.code, found.stderr).toBe(0);
    expect(JSON.parse(found.stdout)).toHaveLength(3);

    const exported = await runCli(['export', 'pgdocs', '--embeddings'], env);
    expect(exported.code, exported.stderr).toBe(0);
    const rows = exported.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows.length).toBe(s.chunks);
    expect(rows[0].embedding).toHaveLength(1536);

    const status = await runCli(['status', '--json'], env);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout).database).toMatchObject({ mode: 'embedded', documents: 60 });
  }, 600_000);

  it('fails with one clear line when Redis is unreachable', async () => {
    const r = await runCli(['status'], { ...env, REDIS_URL: 'redis://127.0.0.1:1' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Cannot reach Redis at redis:\/\/127\.0\.0\.1:1/);
    expect(r.stderr).toMatch(/redis-server/);
  });
});
