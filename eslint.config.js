// ESLint runs one plugin only: eslint-plugin-regexp's rules against regexes whose matching time grows faster than
// their input (docs/design.md, "Linear-time text"). Biome does the rest of the linting and all formatting.
//
// Parser: typescript-eslint needs the `typescript` package's JS API, which TypeScript 7 (the Go port) does not ship.
// Node 24 strips the types itself (the same stripping that runs Sluice): `module.stripTypeScriptTypes` in 'strip' mode
// replaces every type with white space, so line and column numbers stay those of the .ts file, and ESLint's own
// parser (espree) reads the JavaScript that is left.
import { stripTypeScriptTypes } from 'node:module';
import * as espree from 'espree';
import regexp from 'eslint-plugin-regexp';

const stripTypesParser = {
  meta: { name: 'sluice-strip-types' },
  parse(code, options) {
    const js = options.filePath?.endsWith('.ts') ? stripTypeScriptTypes(code, { mode: 'strip' }) : code;
    return espree.parse(js, {
      ecmaVersion: 'latest',
      sourceType: 'module',
      range: true,
      loc: true,
      tokens: true,
      comment: true,
    });
  },
};

export default [
  // Tests read only this repository's own files and fixtures: their regexes never see a crawled page or an
  // API header. Every other file is checked, whether or not its input comes from outside today.
  { ignores: ['**/node_modules/**', '.data/**', 'coverage/**', 'bench-output/**', 'test/**', 'packages/*/test/**'] },
  {
    files: ['**/*.ts', '**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: { parser: stripTypesParser },
    plugins: { regexp },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // A regex that can backtrack super-linearly within one match attempt (nested or adjacent quantifiers over
      // the same characters): quadratic or exponential on a crafted page.
      'regexp/no-super-linear-backtracking': 'error',
      // A regex retried at every position, each attempt running to the end of a run (`\s+$` over a long run of
      // spaces not at the end): quadratic over the whole input.
      'regexp/no-super-linear-move': 'error',
    },
  },
];
