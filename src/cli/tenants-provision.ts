import type { MasterKeys } from '../crypto/master-keys.js';
import { defineCommand, masterKeysFromEnv, tenantIdArgument, urlFromEnv } from './command.js';
import { mainUrlFromEnv, regularTenantOfFile, valkeyTargetFromEnv } from './tenant-of-file.js';

/**
 * `tenantql tenants provision ID` (SPEC §10, §11): makes a tenant of the tenants file ready —
 * its row in the tenants table and, for `"isolation": "database"`, its own database and roles,
 * with their passwords in TENANT_SECRETS_FILE. Prints what it did, never a password.
 */
export default defineCommand({
  name: 'tenants provision',
  summary: 'make a tenant of the file ready (its own database and roles for isolation "database")',
  usage: ['ID [--rotate]'],
  description: `Makes tenant ID of the tenants file ready. For "isolation": "database": creates the database
NAME_tID (NAME: the database of DATABASE_URL), migrates it with tenantql's and the product's
migrations, creates the roles NAME_tID_rw (DML) and NAME_tID_ro (SELECT only), lets only them
(and the owner role, for migrations) connect, and writes their passwords to TENANT_SECRETS_FILE
(mode 0600). Then it records the placement, so the server routes the tenant there after the next
start or reload (kill -HUP). Run again, it keeps the data and the passwords and applies new
migrations; --rotate gives the roles new passwords (reload the server afterwards). Every tenant
gets its data key (SPEC §12), wrapped by TENANT_MASTER_KEY, in the key store NAME_keys.
`,
  options: {
    rotate: { type: 'boolean', help: "new passwords for the tenant's roles" },
  },
  positionals: [{ name: 'ID', help: 'the tenant id (required)' }],
  env: {
    DATABASE_SUPERUSER_URL: 'a superuser: creates the database and roles',
    DATABASE_URL: 'the runtime role of the main database (its name is NAME)',
    TENANTS_FILE: 'the tenants (default ./tenants.json)',
    TENANT_SECRETS_FILE: 'where the credentials go (default ./.secrets/tenants.json)',
    TENANT_MASTER_KEY: "wraps the tenant's data key (base64 of 32 bytes; required with NODE_ENV=production)",
  },
  async run({ values, positionals }, env, loadProduct) {
    const id = positionals[0];
    const tenantId = tenantIdArgument(id);
    const superuserUrl = urlFromEnv(env, 'DATABASE_SUPERUSER_URL');
    const mainUrl = mainUrlFromEnv(env);
    const { databaseOf } = await import('../tiers/names.js');
    const { provisionTenant, ProvisionRefused } = await import('../tiers/provision.js');
    const { describeConnectionFailure } = await import('../db/connection-failure.js');
    const secretsFile = env.TENANT_SECRETS_FILE || './.secrets/tenants.json';
    const found = await regularTenantOfFile(env, 'tenants provision', tenantId);
    if (!found) return 1;
    const masterKeys = masterKeysFromEnv(env, (line) =>
      process.stderr.write(`tenantql tenants provision: ${line}\n`),
    );
    if (!masterKeys) return 1;
    const { tenant, virtualTenants } = found;
    try {
      const report = await provisionTenant({
        superuserUrl,
        mainDatabase: databaseOf(mainUrl),
        tenant,
        virtualTenants,
        productMigrations: (await loadProduct())?.migrations,
        secretsFile,
        rotate: values.rotate,
      });
      const who = `tenant ${tenant.id} (${tenant.subdomain})`;
      const keyLine = `${who}: data key ${await ensureDataKey(superuserUrl, databaseOf(mainUrl), tenant.id, masterKeys)}`;
      const aclLines = await provisionValkeyUser(env, tenant, Boolean(values.rotate), who);
      if (report.isolation === 'shared') {
        process.stdout.write([`${who}: ready in the shared database`, keyLine, ...aclLines, ''].join('\n'));
        return 0;
      }
      const lines = [
        `${who}: database ${report.database} ${report.created ? 'created' : 'kept'}, ${
          report.applied.length ? `${report.applied.length} migrations applied` : 'migrations up to date'
        }`,
        report.rotated
          ? `${who}: new passwords for ${report.database}_rw and ${report.database}_ro written to ${secretsFile}`
          : `${who}: passwords of ${report.database}_rw and ${report.database}_ro kept (--rotate changes them)`,
        `${who}: placement recorded; reload the server (kill -HUP) to serve it there`,
        keyLine,
        ...aclLines,
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
      return 0;
    } catch (error) {
      const line =
        error instanceof ProvisionRefused
          ? error.message
          : (describeConnectionFailure(error, 'DATABASE_SUPERUSER_URL', superuserUrl) ??
            `failed: ${(error as Error).message}`);
      process.stderr.write(`tenantql tenants provision: ${line}\n`);
      return 1;
    }
  },
});

/**
 * The tenant's data key (SPEC §12) in the key store `<NAME>_keys`: made now, or kept (and
 * checked to open with the master key). A key no master key opens is an error.
 */
async function ensureDataKey(
  superuserUrl: string,
  mainDatabase: string,
  tenantId: number,
  masterKeys: MasterKeys,
): Promise<'made' | 'kept'> {
  const { openDataKeys } = await import('../crypto/data-keys.js');
  const { keysDatabaseOf } = await import('../db/keys-database.js');
  const { connectionUrl } = await import('../db/urls.js');
  const { dataKeys, close } = openDataKeys(
    connectionUrl(superuserUrl, keysDatabaseOf(mainDatabase)),
    masterKeys,
  );
  try {
    if (await dataKeys.existingKeyFor(tenantId)) return 'kept';
    await dataKeys.keyFor(tenantId);
    return 'made';
  } finally {
    await close();
  }
}

/**
 * The tenant's Valkey ACL user, when VALKEY_URL (or VALKEY_CLUSTER_NODES) is set and the server
 * already has tenant users (`tenantql valkey-acl` set them up): made if missing, a new password
 * with --rotate, else kept. A new password appears once, in the ACL line, as valkey-acl prints
 * it. Valkey not answering is one line on stderr: run provision again to finish.
 */
async function provisionValkeyUser(
  env: NodeJS.ProcessEnv,
  tenant: { id: number; disabled: boolean },
  rotate: boolean,
  who: string,
): Promise<string[]> {
  if (!env.VALKEY_URL && !env.REDIS_URL && !env.VALKEY_CLUSTER_NODES) return [];
  const { aclLine, generatePassword, tenantRules, tenantUser } = await import('../cache/acl.js');
  const { provisionAclUser } = await import('../cache/tenant-keys.js');
  const password = generatePassword();
  const user = tenantUser(tenant.id);
  try {
    const done = await provisionAclUser(valkeyTargetFromEnv(env), tenant, password, rotate);
    if (done === 'not in use') return [`${who}: Valkey has no tenant ACL users, so none was made for it`];
    if (done === 'kept') return [`${who}: Valkey ACL user ${user} kept (--rotate gives it a new password)`];
    const what = done === 'completed' ? 'was on some nodes only: made on every node, a new password' : done;
    return [
      `${who}: Valkey ACL user ${user} ${what}; its password is in this line only:`,
      aclLine(user, tenantRules(tenant, password)),
    ];
  } catch (error) {
    process.stderr.write(
      `tenantql tenants provision: ${(error as Error).message}; no ACL user checked, run again\n`,
    );
    return [];
  }
}
