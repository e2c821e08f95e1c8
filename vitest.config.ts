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

/** Test files whose runtime and admin roles connect through PgBouncer (test/helpers/db.ts). */
const THROUGH_PGBOUNCER = [PGBOUNCER_ONLY];

const projects: TestProjectInlineConfiguration[] = [
  {
    resolve,
    test: {
      name: 'direct',
      include: ['test/**/*.test.ts'],
      exclude: [...configDefaults.exclude, PGBOUNCER_ONLY],
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
