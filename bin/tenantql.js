#!/usr/bin/env node
// An installed package has only dist/ (its files list ships no src/): it runs what was built,
// and needs neither tsx nor TypeScript. A development checkout runs its TypeScript sources
// through tsx (a dev dependency), whatever NODE_ENV says: `npm start` needs no build step, and
// a dist/ left over from an earlier `npm pack` can never run instead of the code in front of you.
import { existsSync } from 'node:fs';

const checkout = existsSync(new URL('../src/', import.meta.url));

let main;
if (checkout) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli/index.ts'));
} else {
  ({ main } = await import('../dist/cli/index.js'));
}
process.exitCode = await main(process.argv.slice(2));
