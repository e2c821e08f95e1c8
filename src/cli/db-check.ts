import { parseArgs } from 'node:util';
import { checkCatalog } from '../db/catalog-check.js';

const USAGE = 'usage: DATABASE_URL=... tenantql db check';

/**
 * `tenantql db check`: connected as the runtime role, prints `ok` or one problem a line
 * (each naming its table or role) and exits 1 if there is any.
 */
export default async function dbCheck(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  try {
    parseArgs({ args: argv, options: {}, strict: true });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const runtimeUrl = env.DATABASE_URL;
  if (!runtimeUrl) {
    process.stderr.write(`DATABASE_URL is not set\n${USAGE}\n`);
    return 2;
  }
  try {
    const problems = await checkCatalog(runtimeUrl);
    process.stdout.write(problems.length ? problems.map((problem) => `${problem}\n`).join('') : 'ok\n');
    return problems.length ? 1 : 0;
  } catch (error) {
    process.stderr.write(`db check failed: ${(error as Error).message}\n`);
    return 1;
  }
}
