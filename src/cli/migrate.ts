import { parseArgs } from 'node:util';
import { migrate } from '../db/migrate.js';

const USAGE = 'usage: DATABASE_OWNER_URL=... tenantql migrate';

/** `tenantql migrate`: applies `migrations/` as the owner role, never as the runtime role. */
export default async function migrateCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  try {
    parseArgs({ args: argv, options: {}, strict: true });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const ownerUrl = env.DATABASE_OWNER_URL;
  if (!ownerUrl) {
    process.stderr.write(`DATABASE_OWNER_URL is not set (tenantql db setup prints it)\n${USAGE}\n`);
    return 2;
  }
  try {
    const { applied } = await migrate(ownerUrl);
    process.stdout.write(
      applied.length ? applied.map((name) => `applied ${name}\n`).join('') : 'up to date\n',
    );
    return 0;
  } catch (error) {
    process.stderr.write(`migrate failed: ${(error as Error).message}\n`);
    return 1;
  }
}
