/**
 * Lock files that name their owning process: how the processes of one
 * DATA_DIR agree on who serves the embedded database (src/db/embedded.ts)
 * and the embedded OpenAI emulator (src/openai/emulator.ts). A lock holds
 * JSON with at least the owner's `pid`; a lock whose pid is gone is stale
 * and may be removed. Creation is atomic (write a temporary file, then
 * link it: `link` fails when the lock exists), so two processes starting
 * at once never both believe they own it.
 */
import fs from 'node:fs/promises';

/** What every lock holds: the owner's process id, plus whatever the owner adds. */
export interface OwnedLock {
  pid: number;
}

/** True while process `pid` exists (EPERM: it exists but belongs to another user). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The lock's content, or undefined when it is missing or unreadable (being replaced). */
export async function readLock<T extends OwnedLock>(lockPath: string): Promise<T | undefined> {
  try {
    return JSON.parse(await fs.readFile(lockPath, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/**
 * Creates `lockPath` holding `lock`, atomically, unless it exists.
 * @returns whether this call created it
 * @throws the file system's error for anything but "exists"
 */
export async function createLock<T extends OwnedLock>(lockPath: string, lock: T): Promise<boolean> {
  const tmp = `${lockPath}.${process.pid}.tmp`;
  await fs.writeFile(tmp, JSON.stringify(lock));
  try {
    await fs.link(tmp, lockPath);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

/** Replaces the content of a lock this process owns, atomically (write, rename). */
export async function replaceLock<T extends OwnedLock>(lockPath: string, lock: T): Promise<void> {
  const tmp = `${lockPath}.${process.pid}.tmp`;
  await fs.writeFile(tmp, JSON.stringify(lock));
  await fs.rename(tmp, lockPath);
}

/** Removes `lockPath` if it still names `pid` (never another owner's lock). */
export async function removeLockOf(lockPath: string, pid: number): Promise<void> {
  if ((await readLock(lockPath))?.pid === pid) await fs.rm(lockPath, { force: true });
}
