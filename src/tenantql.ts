import { runCommand } from './cli/run.js';
import { type ProductSource, productLoader } from './product.js';

export interface TenantQL {
  /**
   * Runs one `tenantql` command (`start`, `migrate`, `db setup`, `db check`, `schema`, …) for
   * this product: `process.exitCode = await app.main(process.argv.slice(2))`.
   */
  main(argv: string[], env?: NodeJS.ProcessEnv): Promise<number>;
}

/** The entry point of a product: every tenantql command, serving its schema and tables. */
export function createTenantQL(product: ProductSource): TenantQL {
  const load = productLoader(product);
  return { main: (argv, env = process.env) => runCommand(argv, env, load) };
}
