import { defineCommand, UsageError } from './command.js';

/**
 * `tenantql db setup`: creates or updates the database and its three roles, migrates, and
 * prints the connection URLs with fresh passwords, ready to paste into an env file.
 */
export default defineCommand({
  name: 'db setup',
  summary: 'create the database and its three roles, migrate, print their URLs',
  description: `Creates (or brings back in line) the database and its roles NAME_owner, NAME_app and
NAME_admin with fresh passwords, and the key store's database NAME_keys beside it (the tenants'
wrapped data keys: docs/encryption.md), migrates, and prints DATABASE_URL=...,
DATABASE_ADMIN_URL=... and DATABASE_OWNER_URL=... lines for an env file (the key store's URLs are
these with NAME_keys). Run again, it migrates and rotates the passwords.
`,
  options: {
    'superuser-url': { type: 'string', value: 'URL', required: true, help: 'a superuser connection URL' },
    database: { type: 'string', value: 'NAME', help: 'the database to create (default tenantql)' },
  },
  async run({ values }, _env, loadProduct) {
    const superuserUrl = values['superuser-url']!;
    if (!URL.canParse(superuserUrl)) throw new UsageError('--superuser-url is not a URL');
    const { setupDatabase } = await import('../db/setup.js');
    const { describeConnectionFailure } = await import('../db/connection-failure.js');
    try {
      const urls = await setupDatabase({
        superuserUrl,
        database: values.database,
        productMigrations: (await loadProduct())?.migrations,
      });
      process.stdout.write(
        `DATABASE_URL=${urls.databaseUrl}\nDATABASE_ADMIN_URL=${urls.adminUrl}\nDATABASE_OWNER_URL=${urls.ownerUrl}\n`,
      );
      return 0;
    } catch (error) {
      const line =
        describeConnectionFailure(error, '--superuser-url', superuserUrl) ??
        `failed: ${(error as Error).message}`;
      process.stderr.write(`tenantql db setup: ${line}\n`);
      return 1;
    }
  },
});
