import { configDefaults, defineConfig } from 'vitest/config';

/**
 * `npm test` runs every test but the benchmark's smoke run, which loads servers for half a minute to prove the
 * benchmark still works end to end: `npm run test:bench` (CI runs both).
 */
const benchSmoke = 'test/bench/**';

export default defineConfig({
  test: {
    include: process.env.VITEST_BENCH_SMOKE ? [`${benchSmoke}/*.test.ts`] : ['test/**/*.test.ts'],
    exclude: process.env.VITEST_BENCH_SMOKE
      ? configDefaults.exclude
      : [...configDefaults.exclude, benchSmoke],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Most suites wait on servers and child processes rather than compute: three at once fill a 2-core machine
    // (vitest's default, cores - 1, runs them one by one there: 218 s against 115-123 s measured).
    maxWorkers: 3,
  },
});
