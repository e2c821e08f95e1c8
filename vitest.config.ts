import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

// graphql 16 has no "exports": Node (and so Pothos, yoga, tsx at runtime) loads its CJS `main`,
// while Vite would pick its ESM `module` for our own files: two graphql instances, and
// "Cannot use GraphQLNonNull from another module or realm". Resolve it the way Node does.
const graphqlMain = createRequire(import.meta.url).resolve('graphql');

export default defineConfig({
  resolve: { alias: [{ find: /^graphql$/, replacement: graphqlMain }] },
  test: {
    include: ['test/**/*.test.ts'],
    // Starts PostgreSQL and Valkey once per run and migrates a template database.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
