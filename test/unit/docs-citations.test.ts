import { describe, expect, it } from 'vitest';
import {
  SCANNED_DIRS,
  diskRepo,
  formatProblems,
  githubSlug,
  markdownHeadings,
  scanText,
  scannedFiles,
  type Repo,
} from '../helpers/docs-citations.ts';

/** A repository of two docs files, in memory. */
const fakeRepo: Repo = {
  exists: (rel) => ['docs', 'docs/design.md', 'docs/openai-facts.md'].includes(rel),
  read: (rel) =>
    ({
      'docs/design.md': '# Notes\n\n## Idempotent writes\n\n```\n# not a heading\n```\n',
      'docs/openai-facts.md': '# Facts\n\n## Embeddings — `POST /v1/embeddings` (createEmbedding)\n\n## Rate limits\n',
    })[rel] ?? '',
};

const scan = (text: string) => scanText('src/x.ts', text, fakeRepo).map((p) => `${p.line}: ${p.problem}`);

describe('the citation scanner', () => {
  it('accepts citations of existing files and headings', () => {
    expect(scan(`/** Limits (docs/openai-facts.md, "Rate limits"). */`)).toEqual([]);
    expect(scan(`// docs/openai-facts.md "Embeddings": ≤ 2048 inputs`)).toEqual([]);
    expect(scan(`// see docs/design.md#idempotent-writes and docs/design.md.`)).toEqual([]);
    expect(scan(`// ./docs/design.md, "Idempotent writes"`)).toEqual([]);
  });

  it('ignores docs/ inside URLs and longer paths', () => {
    expect(scan(`const u = 'https://platform.openai.com/docs/api-reference'; // http://h/docs/index.html`)).toEqual([]);
    expect(scan(`import x from '../mydocs/a.ts'; // src/docs/b.md`)).toEqual([]);
  });

  it('reports a missing file', () => {
    expect(scan(`\n// docs/runbook.md, "Redis down"`)).toEqual(['2: cites docs/runbook.md, which does not exist']);
  });

  it('reports a missing heading, a wrong anchor and a section split over lines', () => {
    expect(scan(`// docs/design.md, "Idempotent"`)).toEqual([
      '1: cites docs/design.md, "Idempotent": no heading of docs/design.md is "Idempotent"',
    ]);
    expect(scan(`// docs/design.md, "not a heading"`)).toHaveLength(1); // inside a code fence
    expect(scan(`// docs/design.md#idempotent`)).toEqual([
      '1: cites docs/design.md#idempotent: no heading of docs/design.md has that anchor',
    ]);
    expect(scan(` * (docs/openai-facts.md, "Rate\n * limits")`)).toEqual([
      '1: cites a section of docs/openai-facts.md whose name is split over lines: keep "Rate…" on the line of the path',
    ]);
  });

  it('reports citations outside the repository, once each', () => {
    expect(scan(`/** (../shared/openai/FACTS.md "Rate limits") */`)).toEqual([
      '1: cites ../shared, outside the repository: cite docs/ instead',
    ]);
    expect(scan(`// FACTS.md: ≤ 2048\n// see DESIGN.md "chunk"; STYLE.md\n// spec openapi.yaml`)).toEqual([
      '1: cites FACTS.md, which a clone does not have: cite docs/ instead',
      '2: cites DESIGN.md, which a clone does not have: cite docs/ instead',
      '2: cites STYLE.md, which a clone does not have: cite docs/ instead',
      "3: cites openapi.yaml: the repository's copy is packages/openai-emulator/test/fixtures/openai/openapi.yaml",
    ]);
    expect(scan(`// packages/openai-emulator/test/fixtures/openai/openapi.yaml, schema X; MY_FACTS.md`)).toEqual([]);
  });

  it('reads headings and their GitHub anchors', () => {
    expect(markdownHeadings(fakeRepo.read('docs/design.md'))).toEqual(['Notes', 'Idempotent writes']);
    expect(githubSlug('Embeddings — `POST /v1/embeddings` (createEmbedding)')).toBe(
      'embeddings--post-v1embeddings-createembedding',
    );
  });
});

describe('code comments cite only files a clone has', () => {
  const files = scannedFiles();

  it(`scans the files under ${SCANNED_DIRS.join(', ')}`, () => {
    expect(files.length).toBeGreaterThan(50);
    expect(files.some((f) => f.includes('node_modules'))).toBe(false);
  });

  it('every cited docs/ path and section exists, and nothing cites a path outside the repository', () => {
    const problems = files.flatMap((f) => scanText(f, diskRepo.read(f), diskRepo));
    // One line per citation, without a deep-equality diff repeating them.
    if (problems.length) expect.fail(`${problems.length} citation(s) to fix:\n${formatProblems(problems)}`);
  });
});
