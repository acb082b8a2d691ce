// Layer rules for Sluice, checked by `npm run lint` (depcruise).
//
// Parser: dependency-cruiser parses TypeScript with the `typescript` package's
// JS API only for TypeScript < 7; TypeScript 7 (the Go port) ships no such API,
// so it parses with SWC (@swc/core) instead. SWC keeps type-only imports and
// marks them 'type-only', so they count for the layer rules like any import.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'src-not-to-jobs-or-workers',
      comment:
        'src/ is the library the job processors and worker entry points build on; only src/runtime/, which starts ' +
        'the workers, may know them. Anything else importing jobs/ or workers/ inverts the layering.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/runtime/' },
      to: { path: '^(jobs|workers)/' },
    },
    {
      name: 'jobs-not-to-workers',
      comment:
        'workers/ are process entry points that wire up jobs/; a job processor must not depend on the process that runs it.',
      severity: 'error',
      from: { path: '^jobs/' },
      to: { path: '^workers/' },
    },
    {
      name: 'only-tests-to-test',
      comment:
        'test/ (helpers, fixtures, benches) is not shipped; production code that imports it breaks outside the repo.',
      severity: 'error',
      from: { pathNot: '^test/' },
      to: { path: '^test/' },
    },
    {
      name: 'emulator-package-internals',
      comment:
        'The OpenAI emulator is its own package: outside packages/openai-emulator/ use it through its name ' +
        '(@sluice/openai-emulator, whose exports are its public API), never a relative path into its files.',
      severity: 'error',
      from: { pathNot: '^packages/openai-emulator/' },
      to: {
        path: '^packages/openai-emulator/',
        dependencyTypesNot: ['aliased-workspace', 'aliased', 'npm', 'npm-dev', 'npm-optional', 'npm-peer'],
      },
    },
    {
      name: 'emulator-through-one-module',
      comment:
        'Production never needs the emulator: src/openai/emulator.ts loads it lazily (dynamic import) when no API key ' +
        'is set, and src/emulator.ts is the `sluice/emulator` subpath. Any other src/, jobs/ or workers/ import of it ' +
        'could load it in a process that has a key.',
      severity: 'error',
      from: { path: '^(src|jobs|workers)/', pathNot: '^src/(openai/emulator|emulator)\\.ts$' },
      to: { path: '^packages/openai-emulator/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'emulator-not-to-sluice',
      comment:
        'The emulator stands in for the OpenAI API and must stay independent of the system it tests, ' +
        'so it can be published and run on its own.',
      severity: 'error',
      from: { path: '^packages/openai-emulator/' },
      to: { path: '^(src|jobs|workers)/' },
    },
    {
      name: 'no-circular',
      comment:
        'Import cycles make module initialisation order fragile (a value read before its module ran) and blur layers. ' +
        'Cycles that need a type-only import to close are exempt: types are erased before Node runs the code.',
      severity: 'error',
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'not-to-unresolvable',
      comment:
        'An import the resolver cannot find would make the layer rules above silently pass; fail instead ' +
        '(typically a typo or a file moved without updating its importers).',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    parser: 'swc',
    // No tsPreCompilationDeps: it is a tsc-parser option (and asks for typescript < 7). The SWC parser always
    // keeps `import type`, so a type-only import from jobs/ counts as coupling src/ to jobs/.
    doNotFollow: { path: ['node_modules'] },
    exclude: { path: ['^\\.data/', '^test/fixtures/', '^coverage/', '^bench-output/'] },
    // `workspaces` in package.json (packages/*) makes @sluice/openai-emulator an 'aliased-workspace' dependency.
    enhancedResolveOptions: {
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.json', '.d.ts'],
      exportsFields: ['exports'],
      conditionNames: ['import', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
