import { createRequire } from 'node:module';
import { configDefaults, defineConfig, type TestProjectInlineConfiguration } from 'vitest/config';

// graphql 16 has no "exports": Node (and so Pothos, yoga, tsx at runtime) loads its CJS `main`,
// while Vite would pick its ESM `module` for our own files: two graphql instances, and
// "Cannot use GraphQLNonNull from another module or realm". Resolve it the way Node does.
const graphqlMain = createRequire(import.meta.url).resolve('graphql');
const resolve = { alias: [{ find: /^graphql$/, replacement: graphqlMain }] };
const timeouts = { testTimeout: 30_000, hookTimeout: 60_000 };

/** Only the `pgbouncer` project runs it: it needs PgBouncer in front. */
const PGBOUNCER_ONLY = 'test/integration/pgbouncer.test.ts';

/**
 * The core of the integration suite again, with the runtime and admin roles connecting through
 * a PgBouncer in transaction mode (test/helpers/db.ts) and PG_PREPARED_STATEMENTS=0: isolation,
 * pool safety, RLS, the fast path and subscriptions, proven behind a pooler rather than assumed.
 */
const THROUGH_PGBOUNCER = [
  PGBOUNCER_ONLY,
  'test/integration/isolation.test.ts',
  'test/integration/isolation-property.test.ts',
  'test/integration/cross-tenant-replay.test.ts',
  'test/integration/fastpath.test.ts',
  'test/integration/pool-safety.test.ts',
  'test/integration/concurrency.test.ts',
  'test/integration/db-rls.test.ts',
  'test/integration/valkey-events.test.ts',
  'test/integration/subscription-load.test.ts',
];

const projects: TestProjectInlineConfiguration[] = [
  {
    resolve,
    test: {
      name: 'direct',
      include: ['test/**/*.test.ts'],
      // test/package/ packs and installs the package: `npm run test:package` runs it on its own.
      exclude: [...configDefaults.exclude, PGBOUNCER_ONLY, 'test/package/**'],
      ...timeouts,
    },
  },
];
if (process.env.TEST_PGBOUNCER === '0') {
  console.warn('TEST_PGBOUNCER=0: the pgbouncer project does not run');
} else {
  projects.push({
    resolve,
    test: {
      name: 'pgbouncer',
      include: THROUGH_PGBOUNCER,
      provide: { throughPgBouncer: true },
      // A third of the direct run's property budget: the model is the same, the pooler is new.
      env: { FC_BUDGET_MS: '5000' },
      ...timeouts,
    },
  });
}

export default defineConfig({
  resolve,
  test: {
    // Starts PostgreSQL, Valkey and PgBouncer once per run (for every project: the projects do
    // not repeat it) and migrates a template database.
    globalSetup: ['test/global-setup.ts'],
    projects,
  },
});
