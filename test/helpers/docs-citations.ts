/**
 * Finds the files that code cites and checks that a clone of the repository
 * has them (`test/unit/docs-citations.test.ts`). Rules:
 *
 * - A **docs citation** is a path starting `docs/` (or `./docs/`) that is not
 *   part of a longer path or URL (the character before it is not a letter,
 *   digit, `_`, `.`, `/` or `-`, so `https://x/docs/a.html` is no citation).
 *   The path must exist in the repository (file or folder).
 * - A **section** is named right after a cited `.md` path, on the same line:
 *   either a quoted heading, `docs/design.md, "Idempotent writes"` (comma
 *   optional), or an anchor, `docs/design.md#idempotent-writes`. A quoted
 *   name must equal a heading of the file, or the part of a heading before
 *   its first ` — ` or ` (` (so `"Embeddings"` names `## Embeddings —
 *   \`POST /v1/embeddings\` (createEmbedding)`); an anchor must equal a
 *   heading's GitHub slug. A quote opened after the path but not closed on
 *   that line is reported too: a section name split over lines cannot be
 *   checked.
 * - An **outside citation** is `../shared` (any number of `../`), or a file
 *   name `FACTS.md`, `DESIGN.md` or `STYLE.md` (any case) that is not inside
 *   a `docs/…` path, or `openapi.yaml` anywhere but as
 *   `packages/openai-emulator/test/fixtures/openai/openapi.yaml`: files a clone does not have.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Folders scanned, relative to the repository root. */
export const SCANNED_DIRS = ['src', 'jobs', 'workers', 'packages', 'migrations', 'grafana'];
/** Extensions scanned. */
export const SCANNED_EXTENSIONS = ['.ts', '.lua', '.sql', '.yml', '.yaml', '.json'];

export interface Problem {
  /** Repository-relative path of the citing file. */
  file: string;
  /** 1-based line number. */
  line: number;
  problem: string;
  /** The line, trimmed. */
  text: string;
}

/** What the scanner needs to know about the repository (a fake in unit tests). */
export interface Repo {
  /** True when the repository-relative path is a file or folder. */
  exists(relPath: string): boolean;
  /** The text of a repository-relative file. */
  read(relPath: string): string;
}

export const diskRepo: Repo = {
  exists: (relPath) => existsSync(path.join(REPO_ROOT, relPath)),
  read: (relPath) => readFileSync(path.join(REPO_ROOT, relPath), 'utf8'),
};

/** The headings of a Markdown text (outside fenced code blocks), without `#`s. */
export function markdownHeadings(markdown: string): string[] {
  const headings: string[] = [];
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    if (fenced) continue;
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (m?.[1]) headings.push(m[1]);
  }
  return headings;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to `-`. */
export function githubSlug(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** Names a quoted section may use for a heading: all of it, or the part before ` — ` / ` (`. */
function namesOf(heading: string): string[] {
  const short = heading.split(/ — | \(/)[0]?.trim();
  return short && short !== heading ? [heading, short] : [heading];
}

// The path: `docs/`, then path characters, ending on a letter, digit or `_`
// (so a sentence's full stop is not part of it).
const DOCS_PATH = /(?<![\w./-])(?:\.\/)?(docs\/(?:[\w./-]*\w)?)(#[\w-]+)?/g;
const SECTION_AFTER = /^,?\s+"([^"\n]*)("?)/;
const SHARED = /(?<![\w.-])(?:\.\.\/)+shared\b/g;
const OUTSIDE_NAME = /(?<![\w-])(?:FACTS|DESIGN|STYLE)\.md(?![\w-])/gi;
const OPENAPI = /(?<![\w-])openapi\.yaml(?![\w-])/gi;
/** The repository's copy of OpenAI's spec: the emulator package's contract. */
export const OPENAPI_COPY = 'packages/openai-emulator/test/fixtures/openai/openapi.yaml';

/** The path-like word that ends at `end` (letters, digits, `_`, `.`, `/`, `-`). */
function tokenBefore(line: string, end: number): string {
  let start = end;
  while (start > 0 && /[\w./-]/.test(line[start - 1] ?? '')) start--;
  return line.slice(start, end);
}

/**
 * Checks the citations in one file's text.
 * @param file repository-relative path of the file, for the report
 */
export function scanText(file: string, text: string, repo: Repo): Problem[] {
  const problems: Problem[] = [];
  const headingCache = new Map<string, string[]>();
  const headingsOf = (rel: string): string[] => {
    let h = headingCache.get(rel);
    if (!h) {
      h = markdownHeadings(repo.read(rel));
      headingCache.set(rel, h);
    }
    return h;
  };
  text.split('\n').forEach((line, i) => {
    const report = (problem: string) => problems.push({ file, line: i + 1, problem, text: line.trim() });

    for (const m of line.matchAll(DOCS_PATH)) {
      const rel = m[1]!;
      const anchor = m[2];
      if (!repo.exists(rel)) {
        report(`cites ${rel}, which does not exist`);
        continue;
      }
      if (!rel.endsWith('.md')) continue;
      if (anchor) {
        const slug = anchor.slice(1);
        if (!headingsOf(rel).some((h) => githubSlug(h) === slug))
          report(`cites ${rel}${anchor}: no heading of ${rel} has that anchor`);
        continue;
      }
      const after = SECTION_AFTER.exec(line.slice(m.index + m[0].length));
      if (!after) continue;
      const [, name, closed] = after;
      if (!closed) {
        report(`cites a section of ${rel} whose name is split over lines: keep "${name}…" on the line of the path`);
      } else if (!headingsOf(rel).some((h) => namesOf(h).includes(name!))) {
        report(`cites ${rel}, "${name}": no heading of ${rel} is "${name}"`);
      }
    }

    for (const m of line.matchAll(SHARED)) report(`cites ${m[0]}, outside the repository: cite docs/ instead`);
    for (const m of line.matchAll(OUTSIDE_NAME)) {
      const token = tokenBefore(line, m.index + m[0].length);
      if (token.includes('../shared')) continue; // reported above
      if (!/^(\.\/)?docs\//.test(token)) report(`cites ${token}, which a clone does not have: cite docs/ instead`);
    }
    for (const m of line.matchAll(OPENAPI)) {
      const token = tokenBefore(line, m.index + m[0].length);
      if (token.includes('../shared')) continue; // reported above
      if (token !== OPENAPI_COPY) {
        report(`cites ${token}: the repository's copy is ${OPENAPI_COPY}`);
      }
    }
  });
  return problems;
}

/** Every scanned file, repository-relative, sorted; `node_modules` skipped. */
export function scannedFiles(root = REPO_ROOT): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const entry of readdirSync(path.join(root, rel), { withFileTypes: true })) {
      if (entry.name === 'node_modules') continue;
      const child = `${rel}/${entry.name}`;
      // A package's tests are tests, as test/ is (not scanned): the spec-drift
      // checks there compare with ../shared on purpose.
      if (/^packages\/[^/]+\/test$/.test(child)) continue;
      if (entry.isDirectory()) walk(child);
      else if (SCANNED_EXTENSIONS.some((ext) => entry.name.endsWith(ext))) out.push(child);
    }
  };
  for (const dir of SCANNED_DIRS) {
    if (existsSync(path.join(root, dir)) && statSync(path.join(root, dir)).isDirectory()) walk(dir);
  }
  return out.sort();
}

/** One line per problem: `file:line: problem` and the cited text. */
export function formatProblems(problems: Problem[]): string {
  return problems.map((p) => `${p.file}:${p.line}: ${p.problem}\n    ${p.text}`).join('\n');
}
