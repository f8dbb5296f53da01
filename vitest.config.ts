import { availableParallelism } from 'node:os';
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
    // Sized to the machine: most suites wait on servers and child processes rather than compute, so one file more
    // than there are cores keeps them busy (vitest's default, cores - 1, runs them one by one on 2 cores: 218 s
    // against 115-123 s measured with 3). What a busy machine takes away, the tests absorb by waiting for conditions.
    maxWorkers: availableParallelism() + 1,
  },
});
