/**
 * `npm run bench:sessions` — the seed's scenario: 20 sessions over a
 * 1,000-file, ~50 MB project, each session editing 1–5 files and some
 * reverting to an earlier state, each synced to an OpenAI vector store
 * (the emulator over HTTP, real Redis, real PostgreSQL). Prints uploads and
 * bytes against unique contents, store reuse for repeated filesets, and the
 * wall time of a reused session against the first one, measured in the same
 * run. Targets: bytes uploaded ≤ 1.05 × unique bytes; an identical fileset
 * always reuses its store; a reused session ≥ 20× faster than the first.
 *
 * Flags: --files N (1000) --bytes N (50000 per file) --sessions N (20)
 *        --upload-rpm N (1000, OpenAI's per-user limit) --seed N (1)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../src/config/config.ts';
import { spawn } from 'node:child_process';
import type { EmulatorStats } from '@sluice/openai-emulator';
import { createLogger } from '../../src/log/logger.ts';
import { openRuntime } from '../../src/runtime/runtime.ts';
import { startWorkers } from '../../src/runtime/workers.ts';
import { sync } from '../../src/sync/sync.ts';
import { fileContent, fileName } from '../helpers/project.ts';
import { isolate, requirePostgres, requireRedis } from '../helpers/services.ts';

const { values: flags } = parseArgs({
  options: {
    files: { type: 'string', default: '1000' },
    bytes: { type: 'string', default: '50000' },
    sessions: { type: 'string', default: '20' },
    'upload-rpm': { type: 'string', default: '1000' },
    seed: { type: 'string', default: '1' },
  },
});
const FILES = Number(flags.files);
const BYTES = Number(flags.bytes);
const SESSIONS = Number(flags.sessions);
let seed = Number(flags.seed);
/** Deterministic PRNG (LCG) so runs are comparable. */
const rand = () => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
};
const randInt = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));

await requireRedis();
await requirePostgres();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-sessions-'));
const iso = isolate({ OPENAI_UPLOAD_RPM: flags['upload-rpm']!, LOG_LEVEL: 'warn' });
// The emulator runs in its own process, as OpenAI would: its memory and
// garbage collection do not land in the timings of the sessions.
const emulator = spawn(
  process.execPath,
  [path.resolve(import.meta.dirname, '../../src/cli/sluice.ts'), 'emulator', '--port', '0'],
  {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, LOG_LEVEL: 'warn' },
  },
);
const emulatorUrl: string = await new Promise((resolve, reject) => {
  emulator.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim()));
  emulator.once('exit', (code) => reject(new Error(`emulator exited with ${code}`)));
});
const admin = emulatorUrl.replace(/\/v1$/, '');
const emuStats = async (): Promise<EmulatorStats> =>
  (await fetch(`${admin}/_emulator/stats`)).json() as Promise<EmulatorStats>;
const config = loadConfig({ ...iso.env, OPENAI_BASE_URL: emulatorUrl, OPENAI_API_KEY: 'bench' });
const rt = await openRuntime(config, createLogger('warn'), { role: 'bench-sessions' });
const workers = startWorkers(rt, ['upload', 'associate']);

interface SessionRow {
  session: number;
  kind: string;
  edited: number;
  seconds: number;
  reused: boolean;
  uploaded: number;
  bytesUploaded: number;
  store: string;
}
const rows: SessionRow[] = [];
try {
  // State: the version of each file. Unique contents are (file, version) pairs.
  let state = Array.from({ length: FILES }, () => 0);
  const history: number[][] = [];
  const unique = new Map<string, number>();
  const writeState = (next: number[], prev: number[] | undefined) => {
    next.forEach((v, i) => {
      unique.set(`${i}:${v}`, Buffer.byteLength(fileContent(i, v, BYTES)));
      if (prev && prev[i] === v) return;
      const p = path.join(dir, fileName(i));
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.writeFileSync(p, fileContent(i, v, BYTES));
    });
  };
  const seenFilesets = new Map<string, string>();
  let nextVersion = 1;
  for (let s = 0; s < SESSIONS; s++) {
    let kind = 'first';
    let edited = 0;
    let next = state;
    if (s > 0) {
      if (s >= 3 && rand() < 0.25) {
        next = [...history[randInt(0, history.length - 2)]!];
        kind = 'revert';
      } else {
        next = [...state];
        edited = randInt(1, 5);
        for (let e = 0; e < edited; e++) next[randInt(0, FILES - 1)] = nextVersion++;
        kind = 'edit';
      }
    }
    writeState(next, s === 0 ? undefined : state);
    state = next;
    history.push(next);
    const key = next.join(',');
    const started = performance.now();
    const r = await sync(rt, { collection: 'project', sources: [dir] });
    const seconds = (performance.now() - started) / 1000;
    const expectedReuse = seenFilesets.has(key);
    if (expectedReuse && (!r.reused || seenFilesets.get(key) !== r.vectorStoreId))
      throw new Error(`session ${s}: identical fileset did not reuse store ${seenFilesets.get(key)}`);
    seenFilesets.set(key, r.vectorStoreId!);
    if (r.failedFiles?.length)
      throw new Error(`session ${s}: failed files ${JSON.stringify(r.failedFiles.slice(0, 3))}`);
    rows.push({
      session: s,
      kind: r.reused ? `${kind} (reused)` : kind,
      edited,
      seconds,
      reused: !!r.reused,
      uploaded: r.filesUploaded ?? 0,
      bytesUploaded: r.bytesUploaded ?? 0,
      store: r.vectorStoreId!,
    });
    process.stderr.write(
      `session ${s}: ${kind}, ${edited} edited, ${seconds.toFixed(2)} s, uploaded ${r.filesUploaded}, store ${r.reused ? 'reused' : 'created'}\n`,
    );
  }

  const stats = await emuStats();
  const uniqueBytes = [...unique.values()].reduce((a, b) => a + b, 0);
  const repeated = rows.filter((_, i) => history.slice(0, i).some((h) => h.join(',') === history[i]!.join(',')));
  const reusedRows = rows.filter((r) => r.reused);
  const first = rows[0]!.seconds;
  const reusedMedian = reusedRows.map((r) => r.seconds).sort((a, b) => a - b)[Math.floor(reusedRows.length / 2)];
  const editMedian = rows
    .filter((r) => r.kind === 'edit')
    .map((r) => r.seconds)
    .sort((a, b) => a - b)[Math.floor(rows.filter((r) => r.kind === 'edit').length / 2)];
  console.log(
    `\nbench:sessions  ${FILES} files × ${BYTES} bytes (${((FILES * BYTES) / 1e6).toFixed(1)} MB), ${SESSIONS} sessions, upload limit ${flags['upload-rpm']}/min`,
  );
  console.log('session  kind              edited  seconds  uploaded  bytes uploaded');
  for (const r of rows)
    console.log(
      `${String(r.session).padStart(7)}  ${r.kind.padEnd(16)}  ${String(r.edited).padStart(6)}  ${r.seconds.toFixed(3).padStart(7)}  ${String(r.uploaded).padStart(8)}  ${String(r.bytesUploaded).padStart(14)}`,
    );
  console.log(
    "(a session right after the first waits for OpenAI's file-upload limit, 1,000/min per user, which the first session used up: OPENAI_UPLOAD_RPM)",
  );
  console.log(
    `\nuploads: ${stats.files.created} for ${unique.size} unique contents (duplicate uploads ${stats.files.duplicateUploads})`,
  );
  console.log(
    `bytes uploaded: ${stats.files.bytesUploaded} for ${uniqueBytes} bytes of unique contents = ${(stats.files.bytesUploaded / uniqueBytes).toFixed(4)} × (target ≤ 1.05)`,
  );
  console.log(
    `vector stores created: ${stats.vectorStores.created} for ${new Set(history.map((h) => h.join(','))).size} distinct filesets`,
  );
  console.log(
    `store reuse: ${repeated.filter((r) => r.reused).length}/${repeated.length} repeated filesets reused their store (target: all)`,
  );
  if (reusedMedian !== undefined)
    console.log(
      `wall time: first session ${first.toFixed(3)} s, reused session median ${reusedMedian.toFixed(3)} s → ${(first / reusedMedian).toFixed(1)}× faster (target ≥ 20×); edit session median ${editMedian?.toFixed(3)} s`,
    );
} finally {
  await workers.close();
  await rt.close();
  emulator.kill('SIGTERM');
  await iso.cleanup();
  fs.rmSync(dir, { recursive: true, force: true });
}
