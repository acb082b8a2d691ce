/**
 * Lists the files of sync sources: a file, or a directory walked
 * recursively (hidden entries, node_modules and .git skipped), sorted.
 * Every file is listed, supported by vector stores or not: an unsupported
 * one must be reported by OpenAI's own error, not silently dropped.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { PermanentError } from '../errors/index.ts';

const SKIP_DIRS = new Set(['node_modules', '.git']);

async function walk(dir: string, out: string[]): Promise<void> {
  const entries = await fs.readdir(dir, { withFileTypes: true });
  for (const e of entries) {
    if (e.name.startsWith('.') || SKIP_DIRS.has(e.name)) continue;
    const full = path.join(dir, e.name);
    if (e.isDirectory()) await walk(full, out);
    else if (e.isFile()) out.push(full);
  }
}

/**
 * @throws PermanentError naming a source that does not exist.
 */
export async function listFiles(sources: string[], cwd = process.cwd()): Promise<string[]> {
  const out: string[] = [];
  for (const s of sources) {
    const abs = path.resolve(cwd, s);
    const st = await fs.stat(abs).catch(() => undefined);
    if (!st) throw new PermanentError(`${s}: no such file or directory (sync takes local files and directories)`);
    if (st.isDirectory()) await walk(abs, out);
    else out.push(abs);
  }
  return [...new Set(out)].sort();
}
