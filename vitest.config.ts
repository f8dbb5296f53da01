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
  },
});
