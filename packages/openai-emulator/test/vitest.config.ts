import { defineConfig } from 'vitest/config';

// The package's own tests (`npm test -w @sluice/openai-emulator`). The root
// config (test/vitest.config.ts) runs them too, with Sluice's.
export default defineConfig({
  test: {
    root: new URL('..', import.meta.url).pathname,
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
