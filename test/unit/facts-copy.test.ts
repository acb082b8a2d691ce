import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The facts code comments cite: the repo's copy. */
const FACTS_PATH = path.resolve(repoRoot, 'docs/openai-facts.md');

/** The design card's facts beside the repo root, when this checkout sits there. */
const SHARED_FACTS_PATH = path.resolve(repoRoot, '../shared/openai/FACTS.md');

describe("the repo's copy of the OpenAI facts", () => {
  it('exists', () => {
    expect(existsSync(FACTS_PATH)).toBe(true);
  });

  // Only where the design card's folder sits beside the checkout (not in every clone).
  it.skipIf(!existsSync(SHARED_FACTS_PATH))("is byte for byte the design card's ../shared/openai/FACTS.md", () => {
    const copy = readFileSync(FACTS_PATH);
    const shared = readFileSync(SHARED_FACTS_PATH);
    expect(copy.equals(shared), `refresh it: cp ${SHARED_FACTS_PATH} ${FACTS_PATH}`).toBe(true);
  });
});
