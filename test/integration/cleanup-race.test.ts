/**
 * A sync and a TTL cleanup racing on one fileset at the edge of its TTL
 * (docs/design.md, "TTL cleanup"), 100 rounds against the emulator over
 * HTTP, real Redis and real PostgreSQL: no sync ever returns a store that is
 * deleted or being deleted, and at the end the emulator holds exactly what
 * the registry knows (nothing leaked).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '@sluice/openai-emulator';
import { runCleanup } from '../../src/cleanup/cleanup.ts';
import { sync } from '../../src/sync/sync.ts';
import { openTestRuntime, type TestRuntime } from '../helpers/runtime.ts';

const DAY = 24 * 3600 * 1000;
const ROUNDS = 100;
const FILES = 3;
/** Cleanups started per round, spread over the sync (a scheduled run and `sluice cleanup` may overlap too). */
const CLEANUPS = 4;

let emu: RunningEmulator;
let t: TestRuntime;
let dir: string;

beforeAll(async () => {
  // A few ms per API response, like a real network: each side's remote calls take time while the other moves.
  emu = await startEmulator({ latencyMs: 3 });
  t = await openTestRuntime({ OPENAI_BASE_URL: emu.url, OPENAI_API_KEY: 'test-key', OPENAI_UPLOAD_RPM: '100000' });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-cleanup-race-'));
  for (let i = 0; i < FILES; i++) fs.writeFileSync(path.join(dir, `f${i}.md`), `# File ${i}\nracing content ${i}\n`);
});

afterAll(async () => {
  await t?.close();
  await emu?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The cleanup's OpenAI client with its DELETE requests 10 ms on the wire
 * before they arrive (a slow network path): the store is `deleting` in the
 * registry but still alive at OpenAI for that long, the window in which a
 * sync that ignored the status would hand it out.
 */
function slowDeletes() {
  return t.rt.openai.withOptions({
    fetch: async (url: string | URL | Request, init?: RequestInit) => {
      if (init?.method === 'DELETE') await sleep(10);
      return fetch(url, init);
    },
  });
}

describe('sync and TTL cleanup racing', () => {
  it(`${ROUNDS} rounds on one fileset at the edge of its TTL: no dead store id, nothing leaked`, async () => {
    const cleanupOpenAI = slowDeletes();
    const first = await sync(t.rt, { collection: 'race', sources: [dir] });
    expect(first.status).toBe('completed');
    let syncMs = 200;
    const tally = { reused: 0, recreated: 0, storesDeleted: 0, filesDeleted: 0, filesReuploaded: 0 };
    // A seeded spread of cleanup start delays across the sync's duration.
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let round = 0; round < ROUNDS; round++) {
      await sleep(2);
      // Sluice's clock reads "TTL after now": everything last used before this instant has expired.
      const now = new Date(Date.now() + t.rt.config.ttlDays * DAY);
      await sleep(2);
      const started = performance.now();
      const [s, ...cs] = await Promise.all([
        sync(t.rt, { collection: 'race', sources: [dir] }),
        ...Array.from({ length: CLEANUPS }, () =>
          // The orphan sweep races too; the closing reconcile only reports, and is tested on its own.
          sleep(random() * syncMs * 1.2).then(() =>
            runCleanup({ ...t.rt.context, openai: cleanupOpenAI }, { now, reconcile: false }),
          ),
        ),
      ]);
      syncMs = 0.8 * syncMs + 0.2 * (performance.now() - started);
      for (const c of cs) {
        expect(c.failed).toEqual([]);
        tally.storesDeleted += c.vectorStores.length;
        tally.filesDeleted += c.files.length;
      }
      tally.filesReuploaded += (s.filesUploaded ?? 0) + (s.filesReuploaded ?? 0);
      if (s.reused) tally.reused++;
      if (s.recreated) tally.recreated++;
      // The store the sync returned is alive at OpenAI, complete, and live in the registry.
      expect(s.status, `round ${round}`).toBe('completed');
      const store = await t.rt.openai.vectorStores.retrieve(s.vectorStoreId!);
      expect(store.status, `round ${round}: store ${s.vectorStoreId}`).toBe('completed');
      expect(store.file_counts.completed, `round ${round}`).toBe(FILES);
      const { rows } = await t.rt.db.pool.query(
        `SELECT status, vector_store_id FROM filesets WHERE fileset_hash = $1`,
        [s.filesetHash],
      );
      expect(rows, `round ${round}`).toEqual([{ status: 'completed', vector_store_id: s.vectorStoreId }]);
    }
    const stats = emu.stats();
    const {
      rows: [reg],
    } = await t.rt.db.pool.query<{ stores: number; files: number }>(
      `SELECT (SELECT count(*)::int FROM filesets WHERE vector_store_id IS NOT NULL) AS stores,
              (SELECT count(*)::int FROM files WHERE openai_file_id IS NOT NULL) AS files`,
    );
    console.log(
      `${ROUNDS} rounds: ${tally.reused} reused, ${tally.recreated} recreated; cleanup deleted ${tally.storesDeleted} stores and ${tally.filesDeleted} files, syncs uploaded ${tally.filesReuploaded} again; emulator holds ${stats.storage.vectorStores} stores / ${stats.storage.files} files (created ${stats.vectorStores.created} / ${stats.files.created}, deleted ${stats.vectorStores.deleted} / ${stats.files.deleted}); registry ${reg!.stores} / ${reg!.files}`,
    );
    expect(tally.reused + tally.recreated).toBe(ROUNDS);
    expect(tally.storesDeleted).toBe(tally.recreated);
    // Both sides of the race happened.
    expect(tally.reused).toBeGreaterThan(0);
    expect(tally.recreated).toBeGreaterThan(0);
    // Nothing leaked: the emulator holds exactly the registry's live store and files.
    expect(stats.storage.vectorStores).toBe(reg!.stores);
    expect(reg!.stores).toBe(1);
    expect(stats.storage.files).toBe(reg!.files);
    expect(stats.vectorStores.created - stats.vectorStores.deleted).toBe(1);
  }, 300_000);
});
