import { defineCommand, tenantIdArgument, UsageError, urlFromEnv } from './command.js';
import { mainUrlFromEnv, valkeyTargetFromEnv } from './tenant-of-file.js';

/**
 * `tenantql tenants purge ID --confirm SUBDOMAIN [--export FILE]` (SPEC §11): erases a tenant
 * the tenants file no longer serves; the JSON report on stdout, exit 0 only when nothing is left.
 */
export default defineCommand({
  name: 'tenants purge',
  summary: 'erase a removed or disabled tenant: rows, database, keys, ACL user; a JSON report',
  usage: ['ID --confirm SUBDOMAIN [--export FILE]'],
  description: `Erases tenant ID, which the tenants file must no longer serve (removed, or "disabled": true,
and the server reloaded): first its data key in the key store <NAME>_keys (crypto-shredding: no
backup or export taken before decrypts its encrypted fields), then every row of it in every tenant table, its own database and roles if
it has one (and their credentials in TENANT_SECRETS_FILE), every {tID}: key in Valkey and its
ACL user tenant_ID. --export FILE writes an export first (nothing is deleted if it fails).
Prints a JSON report (rows per table before and after, the database, keys, ACL user, data key) and exits
0 only when a fresh count finds nothing of the tenant left; otherwise 1, and running it again
finishes the job. The tenants row stays, marked purgedAt, so the id is never reused. Refused:
tenant 1, virtual tenants (80-99), a tenant still served, a --confirm that is not its subdomain.
`,
  options: {
    confirm: {
      type: 'string',
      required: true,
      value: 'SUBDOMAIN',
      help: "the tenant's subdomain, typed out",
    },
    export: { type: 'string', value: 'FILE', help: 'export the tenant to FILE first (mode 0600)' },
  },
  positionals: [{ name: 'ID', help: 'the tenant id (required)' }],
  env: {
    DATABASE_SUPERUSER_URL: 'a superuser: deletes every row, drops the tenant database and roles',
    DATABASE_URL: 'the runtime role of the main database (its name is NAME)',
    TENANTS_FILE: 'the tenants (default ./tenants.json)',
    TENANT_SECRETS_FILE: 'the dedicated credentials (default ./.secrets/tenants.json)',
    VALKEY_URL: 'where the keys and ACL user are (default redis://127.0.0.1:6379)',
    VALKEY_CLUSTER_NODES: 'or the cluster, host:port,…',
  },
  async run({ values, positionals }, env) {
    const tenantId = tenantIdArgument(positionals[0]);
    const confirm = values.confirm;
    if (!confirm) throw new UsageError('--confirm SUBDOMAIN is required');
    const superuserUrl = urlFromEnv(env, 'DATABASE_SUPERUSER_URL');
    const mainUrl = mainUrlFromEnv(env);
    const { readTenantsFile } = await import('../tenancy/tenants-file.js');
    const { databaseOf } = await import('../tiers/names.js');
    const { purgeTenant, PurgeRefused } = await import('../lifecycle/purge.js');
    const { describeConnectionFailure } = await import('../db/connection-failure.js');
    const say = (line: string) => process.stderr.write(`tenantql tenants purge: ${line}\n`);
    const tenantsFile = env.TENANTS_FILE || './tenants.json';
    const file = await readTenantsFile(tenantsFile);
    if (!file.ok) {
      say(`invalid tenants file ${tenantsFile}:`);
      for (const problem of file.problems) process.stderr.write(`  ${problem}\n`);
      return 1;
    }
    try {
      const report = await purgeTenant({
        superuserUrl,
        mainDatabase: databaseOf(mainUrl),
        tenantId,
        confirm,
        inFile: file.config.tenants.find((t) => t.id === tenantId),
        exportTo: values.export,
        secretsFile: env.TENANT_SECRETS_FILE || './.secrets/tenants.json',
        valkey: valkeyTargetFromEnv(env),
      });
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      for (const problem of report.problems) say(problem);
      if (report.complete && file.config.tenants.some((t) => t.id === tenantId)) {
        say(
          `tenant ${tenantId} stays in ${tenantsFile} only while "disabled": true (a purged id is never served again)`,
        );
      }
      return report.complete ? 0 : 1;
    } catch (error) {
      const line =
        error instanceof PurgeRefused
          ? error.message
          : (describeConnectionFailure(error, 'DATABASE_SUPERUSER_URL', superuserUrl) ??
            `failed: ${(error as Error).message.replaceAll('\n', ' ')}`);
      say(line);
      return 1;
    }
  },
});
