import type { DedicatedClaim } from '../tiers/dedicated-check.js';
import { defineCommand, UsageError } from './command.js';

/**
 * `tenantql db check`: connected as the runtime role, then inside every dedicated tenant's
 * database as that tenant's roles, prints `ok` or one problem a line (each naming its table,
 * role or tenant) and exits 1 if there is any.
 */
export default defineCommand({
  name: 'db check',
  summary: 'verify RLS on every tenant table, as DATABASE_URL and as each dedicated tenant',
  usage: [''],
  description: `Connected as the runtime role, prints ok, or one problem a line (each naming its table
or role) and exits 1: a tenant table without forced row level security and a policy, or a
runtime role that can bypass it.

Then every dedicated tenant: each of TENANT_SECRETS_FILE, and each that the tenants file or
app.tenants place in a database of its own (one without credentials is a problem). Its lines
start "tenant ID (database NAME_tID):". Inside its database, as its _rw and as its _ro role:
the same check, no CREATEDB or REPLICATION, and no right of _ro to write. From the catalog:
neither the shared runtime role nor PUBLIC may CONNECT to a dedicated database, and a tenant's
roles may CONNECT to their own database only.
`,
  env: {
    DATABASE_URL: 'the runtime role; names the main database NAME',
    TENANT_SECRETS_FILE: "dedicated tenants' credentials (default ./.secrets/tenants.json; missing: none)",
    TENANTS_FILE: 'its dedicated tenants need credentials (default ./tenants.json; missing: skipped)',
    DATABASE_ADMIN_URL: 'if set, reads the placements in app.tenants',
    DATABASE_OWNER_URL: 'reads them when DATABASE_ADMIN_URL is not set (neither: not read)',
  },
  async run(_args, env) {
    const runtimeUrl = env.DATABASE_URL;
    if (!runtimeUrl) throw new UsageError('DATABASE_URL is not set');
    if (!URL.canParse(runtimeUrl)) throw new UsageError('DATABASE_URL is not a URL');
    const placementsVariable = env.DATABASE_ADMIN_URL ? 'DATABASE_ADMIN_URL' : 'DATABASE_OWNER_URL';
    const placementsUrl = env[placementsVariable];
    if (placementsUrl && !URL.canParse(placementsUrl)) {
      throw new UsageError(`${placementsVariable} is not a URL`);
    }
    const { checkCatalog } = await import('../db/catalog-check.js');
    const { describeConnectionFailure } = await import('../db/connection-failure.js');
    const { checkDedicatedDatabases, readDedicatedPlacements } = await import('../tiers/dedicated-check.js');
    const { readSecretsFile } = await import('../tiers/secrets-file.js');
    const fail = (line: string) => {
      process.stderr.write(`tenantql db check: ${line}\n`);
      return 1;
    };

    let claims: DedicatedClaim[] = [];
    if (placementsUrl) {
      try {
        const placed = await readDedicatedPlacements(placementsUrl);
        claims = placed.map((tenantId) => ({
          tenantId,
          because: 'app.tenants places it in a database of its own',
        }));
      } catch (error) {
        const described = describeConnectionFailure(error, placementsVariable, placementsUrl);
        return fail(
          described ?? `reading app.tenants as ${placementsVariable} failed: ${(error as Error).message}`,
        );
      }
    }
    const tenantsFile = env.TENANTS_FILE || './tenants.json';
    const declared = await tenantsFileClaims(tenantsFile);
    const secretsFile = env.TENANT_SECRETS_FILE || './.secrets/tenants.json';
    const secrets = await readSecretsFile(secretsFile);
    try {
      const problems = await checkCatalog(runtimeUrl);
      problems.push(...declared.problems);
      if (secrets.ok) {
        problems.push(
          ...(await checkDedicatedDatabases({
            runtimeUrl,
            secrets: secrets.secrets,
            secretsFile,
            claims: [...declared.claims, ...claims],
          })),
        );
      } else {
        // Unreadable or open to others: itself a problem, and no tenant can be checked.
        problems.push(...secrets.problems);
      }
      process.stdout.write(problems.length ? problems.map((problem) => `${problem}\n`).join('') : 'ok\n');
      return problems.length ? 1 : 0;
    } catch (error) {
      return fail(
        describeConnectionFailure(error, 'DATABASE_URL', runtimeUrl) ?? `failed: ${(error as Error).message}`,
      );
    }
  },
});

/** The tenants the file gives `"isolation": "database"`; a missing file gives none. */
async function tenantsFileClaims(file: string): Promise<{ claims: DedicatedClaim[]; problems: string[] }> {
  const { access } = await import('node:fs/promises');
  const { readTenantsFile } = await import('../tenancy/tenants-file.js');
  const missing = await access(file).then(
    () => false,
    (error: NodeJS.ErrnoException) => error.code === 'ENOENT',
  );
  if (missing) return { claims: [], problems: [] };
  const result = await readTenantsFile(file);
  if (!result.ok) {
    return {
      claims: [],
      problems: [`${file}: not a valid tenants file (\`tenantql tenants check\` lists its problems)`],
    };
  }
  const claims = result.config.tenants
    .filter((tenant) => tenant.isolation === 'database')
    .map((tenant) => ({ tenantId: tenant.id, because: `${file} gives it "isolation": "database"` }));
  return { claims, problems: [] };
}
