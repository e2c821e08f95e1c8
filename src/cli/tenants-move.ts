import { defineCommand, tenantIdArgument, UsageError, urlFromEnv } from './command.js';
import { mainUrlFromEnv, regularTenantOfFile, valkeyTargetFromEnv } from './tenant-of-file.js';

const PLACES = ['shared', 'database'] as const;

/**
 * `tenantql tenants move ID --to shared|database` (SPEC §11): moves a live tenant between the
 * tiers; a JSON report on stdout, progress on stderr, one line and exit 1 for a refusal.
 */
export default defineCommand({
  name: 'tenants move',
  summary: 'move a live tenant between the shared database and a database of its own',
  usage: ['ID --to shared|database'],
  description: `Moves tenant ID's rows to --to while it is served. Its writes answer 503 TENANT_READ_ONLY
(with Retry-After) while the rows are copied from one snapshot and verified (a count and a
checksum per table); reads go on. Then the tenant's placement switches, every server that
shares VALKEY_URL follows within a second (others at their first write or next reload), and
the old rows are deleted (for --to shared, the tenant's database and roles too). Interrupted at
any step, the tenant is still served, complete, from its old place; run the command again to
finish. Afterwards set "isolation" in the tenants file as the last line says (a reload refuses
a file that disagrees with where the rows are).
`,
  options: {
    to: { type: 'string', required: true, help: 'shared | database' },
  },
  positionals: [{ name: 'ID', help: 'the tenant id (required)' }],
  env: {
    DATABASE_SUPERUSER_URL: 'a superuser: creates or drops the tenant database and roles',
    DATABASE_URL: 'the runtime role of the main database (its name is NAME)',
    TENANTS_FILE: 'the tenants (default ./tenants.json)',
    TENANT_SECRETS_FILE: 'the dedicated credentials (default ./.secrets/tenants.json)',
    VALKEY_URL: 'where the servers hear of the switch (default redis://127.0.0.1:6379)',
    VALKEY_CLUSTER_NODES: 'or the cluster, host:port,…',
  },
  async run({ values, positionals }, env, loadProduct) {
    const tenantId = tenantIdArgument(positionals[0]);
    const to = PLACES.find((place) => place === values.to);
    if (!to) throw new UsageError(`--to must be shared or database, not '${values.to}'`);
    const superuserUrl = urlFromEnv(env, 'DATABASE_SUPERUSER_URL');
    const mainUrl = mainUrlFromEnv(env);
    const { databaseOf } = await import('../tiers/names.js');
    const { moveTenant, MoveRefused } = await import('../lifecycle/move.js');
    const { ProvisionRefused } = await import('../tiers/provision.js');
    const { describeConnectionFailure } = await import('../db/connection-failure.js');
    const say = (line: string) => process.stderr.write(`tenantql tenants move: ${line}\n`);
    const found = await regularTenantOfFile(env, 'tenants move', tenantId);
    if (!found) return 1;
    const { tenant, virtualTenants, tenantsFile } = found;
    try {
      const report = await moveTenant({
        superuserUrl,
        mainDatabase: databaseOf(mainUrl),
        tenant,
        to,
        virtualTenants,
        productMigrations: (await loadProduct())?.migrations,
        secretsFile: env.TENANT_SECRETS_FILE || './.secrets/tenants.json',
        valkey: valkeyTargetFromEnv(env),
        onStep: (step, detail) =>
          say(`${detail ? `${step}: ${detail}` : step} (${new Date().toISOString()})`),
      });
      process.stdout.write(`${JSON.stringify(report)}\n`);
      if (tenant.isolation !== to) {
        say(
          `now set "isolation": "${to}" for tenant ${tenant.id} in ${tenantsFile} (the next reload needs it)`,
        );
      }
      return 0;
    } catch (error) {
      const line =
        error instanceof MoveRefused || error instanceof ProvisionRefused
          ? error.message
          : (describeConnectionFailure(error, 'DATABASE_SUPERUSER_URL', superuserUrl) ??
            `failed: ${(error as Error).message.replaceAll('\n', ' ')}`);
      say(`${line}`);
      return 1;
    }
  },
});
