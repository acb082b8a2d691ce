import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OPENAPI_SPEC_PATH, SHARED_OPENAPI_SPEC_PATH } from '../helpers/openapi.ts';

describe("the repo's copy of OpenAI's OpenAPI spec", () => {
  it('exists', () => {
    expect(existsSync(OPENAPI_SPEC_PATH)).toBe(true);
  });

  // Only where the design card's folder sits beside the checkout (not in every clone).
  it.skipIf(!existsSync(SHARED_OPENAPI_SPEC_PATH))(
    "is byte for byte the design card's ../shared/openai/openapi.yaml",
    () => {
      const copy = readFileSync(OPENAPI_SPEC_PATH);
      const shared = readFileSync(SHARED_OPENAPI_SPEC_PATH);
      expect(copy.equals(shared), `refresh it: cp ${SHARED_OPENAPI_SPEC_PATH} ${OPENAPI_SPEC_PATH}`).toBe(true);
    },
  );
});
