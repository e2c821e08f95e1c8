#!/usr/bin/env node
// An installed package has only dist/ (its files list ships no src/), and production runs
// what was built; a development checkout runs its TypeScript sources through tsx, so
// `npm start` needs no build step (tsx is a dev dependency: an installed package lacks it).
import { existsSync } from 'node:fs';

const checkout = existsSync(new URL('../src/', import.meta.url));
const production = process.env.NODE_ENV === 'production';
const built = new URL('../dist/cli/index.js', import.meta.url);

let main;
if (!checkout || production) {
  if (!existsSync(built)) {
    process.stderr.write('tenantql: run `npm run build` first (NODE_ENV=production runs dist/)\n');
    process.exit(1);
  }
  ({ main } = await import(built.href));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli/index.ts'));
}
process.exitCode = await main(process.argv.slice(2));
