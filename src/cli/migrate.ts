import { defineCommand, UsageError } from './command.js';

/** `tenantql migrate`: applies `migrations/` as the owner role, never as the runtime role. */
export default defineCommand({
  name: 'migrate',
  summary: "apply tenantql's and the product's migrations as DATABASE_OWNER_URL",
  usage: [''],
  description: `Applies the migrations not applied yet, as the owner role, in order: tenantql's own, then the
product's (createTenantQL({ migrations })).
`,
  env: { DATABASE_OWNER_URL: 'the owner role (tenantql db setup prints it)' },
  async run(_args, env, loadProduct) {
    const ownerUrl = env.DATABASE_OWNER_URL;
    if (!ownerUrl) throw new UsageError('DATABASE_OWNER_URL is not set (tenantql db setup prints it)');
    if (!URL.canParse(ownerUrl)) throw new UsageError('DATABASE_OWNER_URL is not a URL');
    const { migrate } = await import('../db/migrate.js');
    const { describeConnectionFailure } = await import('../db/connection-failure.js');
    try {
      const { applied } = await migrate(ownerUrl, { productDir: (await loadProduct())?.migrations });
      process.stdout.write(
        applied.length ? applied.map((name) => `applied ${name}\n`).join('') : 'up to date\n',
      );
      return 0;
    } catch (error) {
      const line =
        describeConnectionFailure(error, 'DATABASE_OWNER_URL', ownerUrl) ??
        `failed: ${(error as Error).message}`;
      process.stderr.write(`tenantql migrate: ${line}\n`);
      return 1;
    }
  },
});
