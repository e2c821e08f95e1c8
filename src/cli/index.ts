import { createTenantQL } from '../tenantql.js';

/**
 * `tenantql` itself (bin/tenantql.js, `npm start`) serves the demo product of src/example/;
 * a team's own entry calls createTenantQL with its product instead. Loaded on first use, so
 * `--help` and the commands that need no schema never build it.
 */
const demo = createTenantQL(async () => (await import('../example/product.js')).demo);

/** Resolves with the exit code; never rejects, and never prints a stack. */
export function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return demo.main(argv, env);
}
