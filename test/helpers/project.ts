/**
 * Builds a synthetic project of text files on disk for sync tests and the
 * sessions benchmark: distinct, deterministic contents of a given size.
 */
import fs from 'node:fs';
import path from 'node:path';

const EXTENSIONS = ['.md', '.ts', '.py', '.txt', '.json', '.go'];

export function fileContent(i: number, version: number, bytes: number): string {
  const head = `// file ${i} version ${version}\n`;
  const line = `export const value${i}_${version} = "${'lorem ipsum dolor sit amet '.repeat(3)}";\n`;
  let body = head;
  let n = 0;
  while (body.length < bytes) body += line.replace('value', `v${n++}_`);
  return body.slice(0, bytes);
}

export function fileName(i: number): string {
  return `src/module${Math.floor(i / 50)}/file${i}${EXTENSIONS[i % EXTENSIONS.length]}`;
}

/** Writes `count` files of about `bytes` each under `dir`; returns their relative paths. */
export function writeProject(dir: string, count: number, bytes: number): string[] {
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const rel = fileName(i);
    fs.mkdirSync(path.join(dir, path.dirname(rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), fileContent(i, 0, bytes));
    names.push(rel);
  }
  return names;
}
