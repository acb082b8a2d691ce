/**
 * Deadlines on OpenAI (docs/design.md, "Labels, orphans and deadlines"): a
 * file the emulator holds `in_progress` forever does not hold the associate
 * job. Its file batch is polled to OPENAI_POLL_DEADLINE_MS, the file is
 * detached and re-attached once, polled to the deadline again, then
 * detached and reported in `failedFiles` with its File id; the store is
 * `partial` and the job ends.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '@sluice/openai-emulator';
import { ASSOCIATE_DEADLINE_MS } from '../../src/openai/poll.ts';
import { totalDrift } from '../../src/reconcile/drift.ts';
import { runReconcile } from '../../src/reconcile/reconcile.ts';
import { sync } from '../../src/sync/sync.ts';
import { openTestRuntime, type TestRuntime } from '../helpers/runtime.ts';

const POLL_DEADLINE_MS = 1500;

let emu: RunningEmulator;
let t: TestRuntime;
let dir: string;

beforeAll(async () => {
  emu = await startEmulator({ holdProcessing: 'stuck\\.md$' });
  t = await openTestRuntime({
    OPENAI_BASE_URL: emu.url,
    OPENAI_API_KEY: 'test-key',
    OPENAI_UPLOAD_RPM: '100000',
    OPENAI_POLL_DEADLINE_MS: String(POLL_DEADLINE_MS),
  });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-deadline-'));
});

afterAll(async () => {
  await t?.close();
  await emu?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('a file OpenAI holds in_progress forever', () => {
  it('the associate job ends within its deadline with the file in failedFiles; the store is partial', async () => {
    const project = path.join(dir, 'p');
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, 'fine.md'), '# Fine\n\nThis one finishes.\n');
    fs.writeFileSync(path.join(project, 'stuck.md'), '# Stuck\n\nThis one never does.\n');
    const attachedBefore = emu.stats().vectorStoreFiles.attached;

    const started = Date.now();
    const s = await sync(t.rt, { collection: 'deadline', sources: [project] });
    const elapsed = Date.now() - started;
    console.log(`associate with a stuck file ended in ${elapsed} ms (poll deadline ${POLL_DEADLINE_MS} ms)`);
    // Generous: two polls of 1.5 s and a few requests, far inside the job's own deadline.
    expect(elapsed).toBeLessThan(Math.min(ASSOCIATE_DEADLINE_MS, 60_000));

    const { rows } = await t.rt.db.pool.query<{ openai_file_id: string }>(
      `SELECT f.openai_file_id FROM files f JOIN fileset_files ff ON ff.content_hash = f.content_hash
       WHERE ff.fileset_hash = $1 AND ff.filename = 'stuck.md'`,
      [s.filesetHash],
    );
    const stuckId = rows[0]!.openai_file_id;
    expect(s).toMatchObject({ status: 'partial', filesUploaded: 2 });
    expect(s.failedFiles).toEqual([
      {
        filename: 'stuck.md',
        contentHash: expect.stringMatching(/^[0-9a-f]{64}$/),
        fileId: stuckId,
        error: expect.stringMatching(/^deadline_exceeded: still in_progress 1500 ms after it was attached/),
      },
    ]);
    // Attached twice (the batch, the one re-attach), detached in the end: the store serves the rest.
    expect(emu.stats().vectorStoreFiles.attached - attachedBefore).toBe(3);
    const store = await t.rt.openai.vectorStores.retrieve(s.vectorStoreId!);
    expect(store).toMatchObject({ status: 'completed', file_counts: { completed: 1, in_progress: 0, total: 1 } });
    const { rows: fileset } = await t.rt.db.pool.query<{ status: string; file_counts: Record<string, number> }>(
      `SELECT status, file_counts FROM filesets WHERE fileset_hash = $1`,
      [s.filesetHash],
    );
    expect(fileset[0]).toMatchObject({ status: 'partial', file_counts: { completed: 1, failed: 1, in_progress: 0 } });
    // The registry says what OpenAI holds: no drift.
    expect(totalDrift((await runReconcile(t.rt.context, { graceHours: 0 })).found)).toBe(0);
  });
});
