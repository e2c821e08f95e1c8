import pg from 'pg';
import { inject } from 'vitest';
import { connectionUrl } from '../../src/db/setup.js';
import { demoMigrationsDir } from '../../src/example/migrations.js';
import { parseTenantsFile, type Tenant } from '../../src/tenancy/tenants-file.js';
import { dedicatedNames } from '../../src/tiers/names.js';
import { type ProvisionReport, provisionTenant } from '../../src/tiers/provision.js';
import { readSecretsFile, type TenantCredentials } from '../../src/tiers/secrets-file.js';
import type { TestDatabase } from './db.js';

/** The tenants of a tenants-file object, parsed as the server parses them. */
export function tenantsOf(file: object): Tenant[] {
  const parsed = parseTenantsFile(JSON.stringify(file));
  if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
  return [...parsed.config.tenants];
}

/**
 * `tenantql tenants provision ID` for every tenant of `file` with `isolation: database`, on the
 * test's database, with the demo's migrations: what an operator runs before starting the
 * server. The databases are dropped with the test database (test/helpers/db.ts).
 */
export async function provisionDedicated(
  db: TestDatabase,
  secretsFile: string,
  file: object,
  options: { rotate?: boolean; only?: number[] } = {},
): Promise<ProvisionReport[]> {
  const tenants = tenantsOf(file);
  const virtualTenants = tenants.filter((t) => t.kind === 'virtual');
  const reports: ProvisionReport[] = [];
  for (const tenant of tenants) {
    if (tenant.isolation !== 'database' || (options.only && !options.only.includes(tenant.id))) continue;
    reports.push(
      await provisionTenant({
        superuserUrl: inject('superuserUrl'),
        mainDatabase: db.name,
        tenant,
        virtualTenants,
        productMigrations: demoMigrationsDir,
        secretsFile,
        rotate: options.rotate,
      }),
    );
  }
  return reports;
}

/** A superuser connection to a dedicated tenant's database (bypasses RLS: sees every row). */
export async function asSuperuserIn<T>(
  db: Pick<TestDatabase, 'name'>,
  tenantId: number,
  fn: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = new pg.Client({
    connectionString: connectionUrl(inject('superuserUrl'), dedicatedNames(db.name, tenantId).database),
    application_name: 'tenantql test',
  });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** The credentials provision wrote for `tenantId`. */
export async function credentialsOf(secretsFile: string, tenantId: number): Promise<TenantCredentials> {
  const read = await readSecretsFile(secretsFile);
  if (!read.ok) throw new Error(read.problems.join('\n'));
  const found = read.secrets.get(tenantId);
  if (!found) throw new Error(`no credentials for tenant ${tenantId} in ${secretsFile}`);
  return found;
}

/** Tries to connect as `user` to `database`; the error code on failure, or 'ok'. */
export async function tryConnect(
  user: { user: string; password: string },
  database: string,
): Promise<string> {
  const client = new pg.Client({
    connectionString: connectionUrl(inject('superuserUrl'), database, user.user, user.password),
    application_name: 'tenantql test',
  });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return 'ok';
  } catch (error) {
    return (error as { code?: string }).code ?? (error as Error).message;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * A superuser URL of the database where `tenantId`'s rows are: the test database, or the
 * tenant's own when the app's tenant set gives it one.
 */
export function superuserUrlOf(
  t: {
    db: Pick<TestDatabase, 'name' | 'superuserUrl'>;
    registry: { current: { byId(id: number): Tenant | undefined } };
  },
  tenantId: number,
): string {
  if (t.registry.current.byId(tenantId)?.isolation !== 'database') return t.db.superuserUrl;
  return connectionUrl(inject('superuserUrl'), dedicatedNames(t.db.name, tenantId).database);
}

/**
 * The tenant's rows per table in `database`, for every table with a `tenant_id` column that
 * information_schema lists (not a list of ours), tables without rows left out; {} when the
 * database does not exist. As the superuser, so no policy hides a row.
 */
export async function tenantRowsIn(
  superuserUrl: string,
  database: string,
  tenantId: number,
): Promise<Record<string, number>> {
  const main = new pg.Client({ connectionString: superuserUrl });
  await main.connect();
  try {
    const { rowCount } = await main.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!rowCount) return {};
  } finally {
    await main.end();
  }
  const client = new pg.Client({ connectionString: connectionUrl(superuserUrl, database) });
  await client.connect();
  try {
    const { rows: tables } = await client.query<{ name: string }>(
      `SELECT DISTINCT format('%I.%I', table_schema, table_name) AS name FROM information_schema.columns
        WHERE column_name = 'tenant_id' AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`,
    );
    const out: Record<string, number> = {};
    for (const { name } of tables) {
      const { rows } = await client.query(`SELECT count(*)::int AS n FROM ${name} WHERE tenant_id = $1`, [
        tenantId,
      ]);
      if (rows[0].n > 0) out[name] = rows[0].n;
    }
    return out;
  } finally {
    await client.end();
  }
}
