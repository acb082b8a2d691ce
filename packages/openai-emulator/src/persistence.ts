/**
 * The emulator's state on disk (option `stateDir`, `EMULATOR_STATE_DIR`), so
 * a new emulator process knows the Files and vector stores an earlier one
 * handed out, as OpenAI would.
 *
 * Layout of the directory:
 * - `state.json`: one JSON snapshot of the Files (metadata and the SHA-256
 *   of their bytes), the vector stores, their attachments (status,
 *   `last_error`, attributes, chunking, processing deadline), file batches,
 *   expiry settings and the clock (its offset, and the emulator time of the
 *   save so it never runs backwards across restarts);
 * - `blobs/<sha256>`: each File's bytes, content-addressed, written before
 *   the snapshot that names them and removed after the snapshot that no
 *   longer does;
 * - `lock`: `{pid}` of the process that has the directory open.
 *
 * Crash safety: every file is written to a temporary name beside it,
 * fsynced, then renamed over the old one (rename is atomic), and the
 * directory is fsynced. A crash at any point leaves the previous snapshot or
 * the new one, never a mix; leftover temporary files are ignored and removed
 * at the next load. A snapshot is written after every request that may have
 * changed Files or stores (not embeddings), before its response is sent,
 * and only when it differs from the last one written: the state is small
 * (bytes live in the blobs), so a whole snapshot costs little, and one file
 * needs no log replay or compaction.
 *
 * Not kept: rate-limit windows, stats counters, fault settings and the
 * PRNG, and what Files parse into (recomputed from the bytes on first use).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { EmulatorClock } from './clock.ts';
import { RollingWindow } from './limits.ts';
import { Sequencer } from './pagination.ts';
import type { FileBatch, Storage, StoredFile, VectorStore, VsFile } from './storage.ts';

const SNAPSHOT = 'state.json';
const BLOBS = 'blobs';
const LOCK = 'lock';
const VERSION = 1;

interface FileRecord {
  id: string;
  filename: string;
  purpose: string;
  sha256: string;
  bytes: number;
  createdAt: number;
  expiresAtMs: number | null;
}

type AttachmentRecord = Omit<VsFile, 'text' | 'chunks' | 'vectorStoreId'> & {
  /** Still attached (else kept only by a batch, with its last status). */
  current: boolean;
};

interface StoreRecord {
  id: string;
  name: string;
  description: string | null;
  metadata: Record<string, string>;
  createdAt: number;
  lastActiveAtMs: number;
  expiresAfterDays: number | null;
  expired: boolean;
  /** Current ones in attach order, then those only batches hold. */
  attachments: AttachmentRecord[];
  batches: Array<{ id: string; createdAt: number; cancelled: boolean; files: number[] }>;
}

interface Snapshot {
  version: number;
  /** Emulator time of the save, epoch ms. */
  savedAtMs: number;
  clockOffsetMs: number;
  files: FileRecord[];
  stores: StoreRecord[];
}

/** Thrown when the state directory cannot be used (held by a live process, or unreadable). */
export class StateDirError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StateDirError';
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Writes `data` to `file` through a temporary file, fsync and rename. */
function writeAtomic(file: string, data: string | Buffer): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  syncDir(path.dirname(file));
}

function syncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** The emulator's state directory, open for one emulator. */
export class StatePersistence {
  readonly dir: string;
  readonly #blobDir: string;
  /** SHA-256 per File bytes (Buffers are never changed once stored). */
  readonly #hashes = new WeakMap<Buffer, string>();
  /** Blobs on disk. */
  readonly #blobs = new Set<string>();
  #lastBody = '';
  #locked = false;

  /**
   * Opens (creating it) the directory and takes its lock.
   * @throws StateDirError when another live process holds it
   */
  constructor(dir: string) {
    this.dir = path.resolve(dir);
    this.#blobDir = path.join(this.dir, BLOBS);
    fs.mkdirSync(this.#blobDir, { recursive: true });
    this.#lock();
  }

  #lock(): void {
    const lockPath = path.join(this.dir, LOCK);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        fs.writeFileSync(lockPath, JSON.stringify({ pid: process.pid }), { flag: 'wx' });
        this.#locked = true;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      let pid: number | undefined;
      try {
        pid = (JSON.parse(fs.readFileSync(lockPath, 'utf8')) as { pid: number }).pid;
      } catch {
        pid = undefined; // half-written by a process that died, or just removed
      }
      if (pid !== undefined && pid !== process.pid && isAlive(pid)) {
        throw new StateDirError(`emulator state directory ${this.dir} is in use by process ${pid}`);
      }
      fs.rmSync(lockPath, { force: true }); // stale: its process is gone
    }
    throw new StateDirError(`could not lock the emulator state directory ${this.dir}`);
  }

  /** Releases the lock (after a last save). */
  release(): void {
    if (!this.#locked) return;
    this.#locked = false;
    fs.rmSync(path.join(this.dir, LOCK), { force: true });
  }

  /**
   * Loads the snapshot into an empty `storage` and moves `clock` to the
   * saved offset (and never before the saved time). Removes leftover
   * temporary files and blobs no snapshot names.
   * @returns whether there was a snapshot
   * @throws StateDirError when `state.json` or a blob it names cannot be read
   */
  load(storage: Storage, clock: EmulatorClock): boolean {
    for (const name of fs.readdirSync(this.dir))
      if (name.includes('.tmp-')) this.#removeStale(path.join(this.dir, name));
    const snapshotPath = path.join(this.dir, SNAPSHOT);
    let text: string;
    try {
      text = fs.readFileSync(snapshotPath, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.#collectBlobs(new Set());
        return false;
      }
      throw err;
    }
    let snap: Snapshot;
    try {
      snap = JSON.parse(text) as Snapshot;
    } catch (err) {
      throw new StateDirError(`${snapshotPath} is not valid JSON (${(err as Error).message})`);
    }
    if (snap.version !== VERSION) {
      throw new StateDirError(`${snapshotPath} has version ${snap.version}; this emulator reads version ${VERSION}`);
    }
    if (snap.clockOffsetMs > 0) clock.advance(snap.clockOffsetMs);
    const behind = snap.savedAtMs - clock.nowMs();
    if (behind > 0) clock.advance(behind); // the wall clock went back: the emulator's does not

    const referenced = new Set<string>();
    for (const r of snap.files) {
      let bytes: Buffer;
      try {
        bytes = fs.readFileSync(path.join(this.#blobDir, r.sha256));
      } catch (err) {
        throw new StateDirError(`the bytes of ${r.id} (blob ${r.sha256}) are missing: ${(err as Error).message}`);
      }
      this.#hashes.set(bytes, r.sha256);
      referenced.add(r.sha256);
      storage.adoptFile({
        id: r.id,
        filename: r.filename,
        purpose: r.purpose,
        bytes,
        createdAt: r.createdAt,
        expiresAtMs: r.expiresAtMs,
      });
    }
    for (const r of snap.stores) storage.adoptStore(storeFrom(r));
    this.#collectBlobs(referenced);
    for (const h of referenced) this.#blobs.add(h);
    this.#lastBody = bodyOf(toSnapshot(storage, clock, this.#hashOf));
    return true;
  }

  /**
   * Writes the snapshot if anything changed since the last one (or always,
   * with `force`): new blobs first, then `state.json`, then unused blobs go.
   */
  save(storage: Storage, clock: EmulatorClock, force = false): void {
    const snap = toSnapshot(storage, clock, this.#hashOf);
    const body = bodyOf(snap);
    if (!force && body === this.#lastBody) return;
    const referenced = new Set<string>();
    for (const f of storage.files.values()) {
      const h = this.#hashOf(f.bytes);
      referenced.add(h);
      if (!this.#blobs.has(h)) {
        writeAtomic(path.join(this.#blobDir, h), f.bytes);
        this.#blobs.add(h);
      }
    }
    writeAtomic(path.join(this.dir, SNAPSHOT), JSON.stringify(snap));
    this.#lastBody = body;
    for (const h of this.#blobs) {
      if (referenced.has(h)) continue;
      fs.rmSync(path.join(this.#blobDir, h), { force: true });
      this.#blobs.delete(h);
    }
  }

  readonly #hashOf = (bytes: Buffer): string => {
    let h = this.#hashes.get(bytes);
    if (!h) {
      h = createHash('sha256').update(bytes).digest('hex');
      this.#hashes.set(bytes, h);
    }
    return h;
  };

  /** Removes blobs (and their temporary files) that `keep` does not name. */
  #collectBlobs(keep: Set<string>): void {
    for (const name of fs.readdirSync(this.#blobDir)) {
      if (!keep.has(name)) this.#removeStale(path.join(this.#blobDir, name));
    }
  }

  #removeStale(file: string): void {
    fs.rmSync(file, { force: true });
  }
}

/** The part of a snapshot that changes with the state (not the save time). */
function bodyOf(snap: Snapshot): string {
  return JSON.stringify([snap.clockOffsetMs, snap.files, snap.stores]);
}

function toSnapshot(storage: Storage, clock: EmulatorClock, hashOf: (b: Buffer) => string): Snapshot {
  const files: FileRecord[] = [...storage.files.values()].map((f: StoredFile) => ({
    id: f.id,
    filename: f.filename,
    purpose: f.purpose,
    sha256: hashOf(f.bytes),
    bytes: f.bytes.length,
    createdAt: f.createdAt,
    expiresAtMs: f.expiresAtMs,
  }));
  const stores = [...storage.stores.values()].map(storeRecord);
  return { version: VERSION, savedAtMs: Math.floor(clock.nowMs()), clockOffsetMs: clock.offsetMs, files, stores };
}

function storeRecord(s: VectorStore): StoreRecord {
  const index = new Map<VsFile, number>();
  const attachments: AttachmentRecord[] = [];
  const add = (vf: VsFile, current: boolean) => {
    if (index.has(vf)) return;
    index.set(vf, attachments.length);
    attachments.push({
      fileId: vf.fileId,
      filename: vf.filename,
      createdAt: vf.createdAt,
      status: vf.status,
      lastError: vf.lastError,
      usageBytes: vf.usageBytes,
      attributes: vf.attributes,
      chunking: vf.chunking,
      readyAtMs: vf.readyAtMs,
      batchId: vf.batchId,
      current,
    });
  };
  for (const vf of s.files.values()) add(vf, true);
  for (const b of s.batches.values()) for (const vf of b.files) add(vf, false);
  return {
    id: s.id,
    name: s.name,
    description: s.description,
    metadata: s.metadata,
    createdAt: s.createdAt,
    lastActiveAtMs: s.lastActiveAtMs,
    expiresAfterDays: s.expiresAfterDays,
    expired: s.expired,
    attachments,
    batches: [...s.batches.values()].map((b: FileBatch) => ({
      id: b.id,
      createdAt: b.createdAt,
      cancelled: b.cancelled,
      files: b.files.map((vf) => index.get(vf) as number),
    })),
  };
}

function storeFrom(r: StoreRecord): VectorStore {
  const attachments = r.attachments.map(({ current: _current, ...a }): VsFile => ({ ...a, vectorStoreId: r.id }));
  const files = new Map<string, VsFile>();
  r.attachments.forEach((a, i) => {
    if (a.current) files.set(a.fileId, attachments[i] as VsFile);
  });
  const batches = new Map<string, FileBatch>();
  for (const b of r.batches) {
    batches.set(b.id, {
      id: b.id,
      vectorStoreId: r.id,
      createdAt: b.createdAt,
      cancelled: b.cancelled,
      files: b.files.map((i) => attachments[i] as VsFile),
    });
  }
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    metadata: r.metadata,
    createdAt: r.createdAt,
    lastActiveAtMs: r.lastActiveAtMs,
    expiresAfterDays: r.expiresAfterDays,
    expired: r.expired,
    files,
    fileSeq: new Sequencer(),
    inProgress: new Set(),
    batches,
    writes: new RollingWindow(),
  };
}
