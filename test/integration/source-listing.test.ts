/**
 * Directory sources are listed as a stream and claimed in batches of 500
 * (docs/design.md, "Source roots"): the listing stops once the run's page
 * limit refuses files, and fails with the count past SOURCE_MAX_FILES after
 * enqueuing what it listed. Real files, Redis, PostgreSQL; the emulator over HTTP.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmulator, type RunningEmulator } from '@sluice/openai-emulator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingest } from '../../src/ingest/ingest.ts';
import { openTestRuntime, type TestRuntime } from '../helpers/runtime.ts';

let emu: RunningEmulator;
let t: TestRuntime;
let dir: string;

function tree(name: string, files: number): string {
  const root = path.join(dir, name);
  for (let i = 0; i < files; i++) {
    const sub = path.join(root, `d${i % 7}`);
    fs.mkdirSync(sub, { recursive: true });
    // One text for all: the test is about listing and claims, not embedding.
    fs.writeFileSync(path.join(sub, `f${i}.md`), '# Same\n\nThe same small page.\n');
  }
  return root;
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-listing-'));
  emu = await startEmulator({ rpm: 100_000, tpm: 100_000_000, seed: 5 });
  t = await openTestRuntime({
    OPENAI_BASE_URL: emu.url,
    SOURCE_ROOTS: dir,
    SOURCE_MAX_FILES: '700',
    CRAWL_CONCURRENCY: '16',
  });
});

afterAll(async () => {
  await t?.close();
  await emu?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('a directory source', () => {
  it('stops listing once the page limit refuses files', async () => {
    const root = tree('limited', 1050);
    const s = await ingest(t.rt, { collection: 'limited', sources: [{ path: root }], maxPages: 300 });
    // The directory is a page of the run: 299 files fit. Batch one claims 299 of 500 and the listing
    // stops there: 201 refused, and SOURCE_MAX_FILES (700 of the 1,050 files) is never reached.
    expect(s.failed).toEqual([]);
    expect(s.documents).toBe(299);
    expect(s.pagesSkipped).toBe(201);
  }, 300_000);

  it('fails with the count past SOURCE_MAX_FILES, after enqueuing what it listed', async () => {
    const root = tree('many', 720);
    const s = await ingest(t.rt, { collection: 'many', sources: [{ path: root }] });
    expect(s.documents).toBe(700);
    expect(s.failed).toHaveLength(1);
    expect(s.failed[0]).toMatchObject({
      source: root,
      errorName: 'PermanentError',
      error: expect.stringMatching(/over SOURCE_MAX_FILES=700 files; the listing stopped there \(700 files enqueued\)/),
    });
  }, 300_000);
});
