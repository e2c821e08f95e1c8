import { defineCommand, urlFromEnv } from './command.js';

/** `tenantql migrate`: applies `migrations/` as the owner role, never as the runtime role. */
export default defineCommand({
  name: 'migrate',
  summary: "apply tenantql's and the product's migrations as DATABASE_OWNER_URL",
  usage: [''],
  description: `Applies the migrations not applied yet, as the owner role, in order: tenantql's own, then the
product's (createTenantQL({ migrations })); then the same to every dedicated tenant's database
(isolation "database"), as that database's owner.
`,
  env: { DATABASE_OWNER_URL: 'the owner role (tenantql db setup prints it)' },
  async run(_args, env, loadProduct) {
    const ownerUrl = urlFromEnv(env, 'DATABASE_OWNER_URL', 'tenantql db setup prints it');
    const { migrate } = await import('../db/migrate.js');
    const { migrateDedicatedTenants } = await import('../tiers/provision.js');
    const { describeConnectionFailure } = await import('../db/connection-failure.js');
    try {
      const productDir = (await loadProduct())?.migrations;
      const { applied } = await migrate(ownerUrl, { productDir });
      process.stdout.write(
        applied.length ? applied.map((name) => `applied ${name}\n`).join('') : 'up to date\n',
      );
      for (const tenant of await migrateDedicatedTenants(ownerUrl, productDir)) {
        const done = tenant.applied.map((name) => `tenant ${tenant.tenantId}: applied ${name}\n`).join('');
        process.stdout.write(done || `tenant ${tenant.tenantId} (${tenant.database}): up to date\n`);
      }
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
