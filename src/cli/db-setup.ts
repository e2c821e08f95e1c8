import { parseArgs } from 'node:util';
import { setupDatabase } from '../db/setup.js';

const USAGE = 'usage: tenantql db setup --superuser-url URL [--database NAME]';

/**
 * `tenantql db setup`: creates or updates the database and its three roles, migrates, and
 * prints the connection URLs with fresh passwords, ready to paste into an env file.
 */
export default async function dbSetup(argv: string[], _env: NodeJS.ProcessEnv): Promise<number> {
  let values: { 'superuser-url'?: string; database?: string };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { 'superuser-url': { type: 'string' }, database: { type: 'string' } },
      strict: true,
    }));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const superuserUrl = values['superuser-url'];
  if (!superuserUrl) {
    process.stderr.write(`--superuser-url is required\n${USAGE}\n`);
    return 2;
  }
  try {
    const urls = await setupDatabase({ superuserUrl, database: values.database });
    process.stdout.write(
      `DATABASE_URL=${urls.databaseUrl}\nDATABASE_ADMIN_URL=${urls.adminUrl}\nDATABASE_OWNER_URL=${urls.ownerUrl}\n`,
    );
    return 0;
  } catch (error) {
    process.stderr.write(`db setup failed: ${(error as Error).message}\n`);
    return 1;
  }
}
