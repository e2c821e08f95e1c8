import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// `npm run test:package`: the packaging test alone (the default config excludes it). It reuses
// the suite's global set-up for PostgreSQL and Valkey; PgBouncer it does not need, so the set-up
// is told not to look for one (read in this process, where the global set-up runs).
process.env.TEST_PGBOUNCER = '0';

export default defineConfig({
  // The repository, so the set-up's and the test's paths read as in the default config.
  root: fileURLToPath(new URL('../../', import.meta.url)),
  test: {
    name: 'package',
    include: ['test/package/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // npm pack builds dist/ and npm install unpacks the dependencies: minutes on a slow disk.
    hookTimeout: 240_000,
    testTimeout: 60_000,
  },
});
