/**
 * What the `sluice` CLI's operator names is trusted, and only that
 * (docs/design.md, "SSRF guard", "Source roots"): with no CRAWL_ALLOW_HOSTS
 * the host of a URL typed on the command line is crawled, and with no
 * SOURCE_ROOTS a path under the current directory is read, while a
 * symbolic link out of it is refused. Real CLI process, Redis, PostgreSQL, HTTP.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmulator, type RunningEmulator } from '@sluice/openai-emulator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';
import { isolate, requirePostgres, requireRedis, type TestIsolation } from '../helpers/services.ts';
import { serveDirectory, type StaticServer } from '../helpers/static-server.ts';

let emu: RunningEmulator;
let iso: TestIsolation;
let site: StaticServer;
let dir: string;

beforeAll(async () => {
  await requireRedis();
  await requirePostgres();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-operator-'));
  fs.mkdirSync(path.join(dir, 'site'));
  fs.mkdirSync(path.join(dir, 'work', 'docs'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'site', 'index.html'), '<title>Site</title><p>A page on a loopback server.</p>');
  fs.writeFileSync(path.join(dir, 'work', 'docs', 'a.md'), '# A\n\nA file under the current directory.\n');
  fs.writeFileSync(path.join(dir, 'secret.md'), '# Secret\n\nOutside the current directory.\n');
  fs.symlinkSync(path.join(dir, 'secret.md'), path.join(dir, 'work', 'docs', 'link.md'));
  site = await serveDirectory(path.join(dir, 'site'));
  emu = await startEmulator({ rpm: 100_000, tpm: 100_000_000, seed: 9 });
  // Nothing allowed by configuration: what the operator types is all the CLI may trust.
  iso = isolate({ OPENAI_BASE_URL: emu.url, CRAWL_ALLOW_HOSTS: '', SOURCE_ROOTS: '' });
});

afterAll(async () => {
  await iso?.cleanup();
  await emu?.close();
  await site?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('sluice ingest', () => {
  it('crawls the host its operator names, reads paths under the current directory, refuses a link out of it', async () => {
    const r = await runCli(
      ['ingest', `${site.url}/index.html`, 'docs', '--collection', 'operator', '--json'],
      iso.env,
      path.join(dir, 'work'),
    );
    const s = JSON.parse(r.stdout);
    expect(s.documents, r.stderr).toBe(2);
    expect(s.failed).toEqual([
      {
        source: path.join(dir, 'work', 'docs', 'link.md'),
        error: expect.stringMatching(/a symbolic link to .*secret\.md\): outside the source roots/),
        errorName: 'SourceRootError',
      },
    ]);
    expect(r.code).toBe(1);
  }, 120_000);
});
