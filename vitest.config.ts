import { defineConfig } from 'vitest/config';

// Integration tests start real processes (shoald, registries, raft nodes) and real containers;
// two workers match the two cores of the CI machine.
export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**', 'native/build/**'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
