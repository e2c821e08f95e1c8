import pg from 'pg';
import { checkCatalogAs, USER_SCHEMAS } from '../db/catalog-check.js';
import { describeConnectionFailure } from '../db/connection-failure.js';
import { connectionUrl } from '../db/setup.js';
import { type DedicatedNames, databaseOf, dedicatedNames } from './names.js';
import { readPlacements } from './placement.js';
import type { RoleCredentials, TenantCredentials, TenantSecrets } from './secrets-file.js';

/** A tenant that must have a database of its own, and who says so (for the line). */
export interface DedicatedClaim {
  readonly tenantId: number;
  /** `app.tenants places it in a database of its own`. */
  readonly because: string;
}

export interface DedicatedCheckOptions {
  /** DATABASE_URL: the shared runtime role, the main database NAME, where PostgreSQL listens. */
  readonly runtimeUrl: string;
  /** TENANT_SECRETS_FILE, read; every tenant in it is checked. */
  readonly secrets: TenantSecrets;
  /** Its path, for the lines. */
  readonly secretsFile: string;
  /** Tenants placed or declared dedicated: one without credentials is a problem. */
  readonly claims?: readonly DedicatedClaim[];
}

/**
 * `tenantql db check` for the dedicated tenants (SPEC §10): inside each tenant's database, as
 * each of its login roles, the catalog check (forced RLS and a policy on every tenant table, no
 * way around them), CREATEDB or REPLICATION, and for `_ro` any right to write; then, from the
 * cluster-wide pg_database and pg_roles, who may CONNECT where: not the shared runtime role nor
 * PUBLIC to a dedicated database, a tenant's roles to their own database only. Catalogs only,
 * no superuser. Each line starts with its tenant and database: `tenant 5 (database x_t5): …`.
 */
export async function checkDedicatedDatabases(options: DedicatedCheckOptions): Promise<string[]> {
  const main = databaseOf(options.runtimeUrl);
  const found = new Map<number, string[]>();
  const report = (tenantId: number, lines: readonly string[]) => {
    if (lines.length > 0) found.set(tenantId, [...(found.get(tenantId) ?? []), ...lines]);
  };

  const unprovisioned = new Map<number, string[]>();
  for (const { tenantId, because } of options.claims ?? []) {
    if (options.secrets.has(tenantId)) continue;
    unprovisioned.set(tenantId, [...new Set([...(unprovisioned.get(tenantId) ?? []), because])]);
  }
  for (const [tenantId, because] of unprovisioned) {
    report(tenantId, [
      `${because.join(' and ')}, but ${options.secretsFile} has no credentials for it; run \`tenantql tenants provision ${tenantId}\``,
    ]);
  }

  const checked: { tenantId: number; names: DedicatedNames }[] = [];
  for (const [tenantId, credentials] of options.secrets) {
    const names = dedicatedNames(main, tenantId);
    const mismatch = misnamed(credentials, names);
    if (mismatch.length > 0) {
      // Not this main database's tenant (another NAME's file?): nothing here to check it against.
      report(
        tenantId,
        mismatch.map((what) => `${options.secretsFile}: ${what}`),
      );
      continue;
    }
    checked.push({ tenantId, names });
    report(tenantId, await checkInside(options, credentials));
  }

  for (const [tenantId, lines] of await checkConnectRights(options.runtimeUrl, main, checked)) {
    report(tenantId, lines);
  }
  return [...found]
    .sort(([a], [b]) => a - b)
    .flatMap(([tenantId, lines]) =>
      lines.map(
        (line) => `tenant ${tenantId} (database ${dedicatedNames(main, tenantId).database}): ${line}`,
      ),
    );
}

/**
 * The ids app.tenants places in a database of their own, read as the owner or admin role (the
 * runtime role sees only its own tenant's row).
 */
export async function readDedicatedPlacements(url: string): Promise<number[]> {
  const client = new pg.Client({ connectionString: url, application_name: 'tenantql db check' });
  await client.connect();
  try {
    const placements = await readPlacements(client);
    return [...placements].filter(([, isolation]) => isolation === 'database').map(([id]) => id);
  } finally {
    await client.end();
  }
}

function misnamed(credentials: TenantCredentials, names: DedicatedNames): string[] {
  const pairs = [
    ['database', credentials.database, names.database],
    ['rw.user', credentials.rw.user, names.rw],
    ['ro.user', credentials.ro.user, names.ro],
  ] as const;
  return pairs
    .filter(([, given, expected]) => given !== expected)
    .map(([field, given, expected]) => `${field} is "${given}", not "${expected}"`);
}

/**
 * The tenant's database as `_rw` (the whole catalog check) and as `_ro` (all but the tenant
 * tables, already covered, plus any right to write). A problem of an object rather than of the
 * role (a definer function without a pinned search_path) shows once.
 */
async function checkInside(
  options: DedicatedCheckOptions,
  credentials: TenantCredentials,
): Promise<string[]> {
  const url = (role: RoleCredentials) =>
    connectionUrl(options.runtimeUrl, credentials.database, role.user, role.password);
  const rw = await asRole(url(credentials.rw), credentials.rw, options.secretsFile, (client) =>
    rolePowers(client, credentials.rw.user, true),
  );
  const ro = await asRole(url(credentials.ro), credentials.ro, options.secretsFile, async (client) => [
    ...(await rolePowers(client, credentials.ro.user, false)),
    ...(await writeRights(client, credentials.ro.user)),
  ]);
  return [...rw, ...ro.filter((line) => !rw.includes(line))];
}

async function asRole(
  url: string,
  role: RoleCredentials,
  secretsFile: string,
  check: (client: pg.Client) => Promise<string[]>,
): Promise<string[]> {
  const client = new pg.Client({ connectionString: url, application_name: 'tenantql db check' });
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    const words = describeConnectionFailure(error, secretsFile, url) ?? (error as Error).message;
    return [
      `cannot connect as ${role.user}: ${words.replaceAll(role.password, '***').replaceAll('\n', ' ')}`,
    ];
  }
  try {
    return await check(client);
  } finally {
    await client.end();
  }
}

/** The catalog check as this role, and the attributes it does not look at. */
async function rolePowers(client: pg.Client, role: string, tenantTables: boolean): Promise<string[]> {
  const problems = await checkCatalogAs(client, { subject: `role ${role}`, tenantTables });
  const { rows } = await client.query<{ rolcreatedb: boolean; rolreplication: boolean }>(
    'SELECT rolcreatedb, rolreplication FROM pg_roles WHERE rolname = current_user',
  );
  const flaws = [rows[0]?.rolcreatedb && 'has CREATEDB', rows[0]?.rolreplication && 'has REPLICATION'];
  const found = flaws.filter((flaw): flaw is string => typeof flaw === 'string');
  return found.length > 0 ? [...problems, `role ${role}: ${found.join(', ')}`] : problems;
}

/** `_ro` serves requests without a mutation: SELECT is all it may have, on any table or view. */
async function writeRights(client: pg.Client, role: string): Promise<string[]> {
  // Column grants count: has_any_column_privilege sees them, has_table_privilege does not.
  const { rows } = await client.query<{ relation: string; rights: string[] }>(`
    SELECT relation, rights FROM (
      SELECT format('%I.%I', n.nspname, c.relname) AS relation,
             array_remove(ARRAY[
               CASE WHEN has_any_column_privilege(c.oid, 'INSERT') THEN 'INSERT' END,
               CASE WHEN has_any_column_privilege(c.oid, 'UPDATE') THEN 'UPDATE' END,
               CASE WHEN has_table_privilege(c.oid, 'DELETE') THEN 'DELETE' END,
               CASE WHEN has_table_privilege(c.oid, 'TRUNCATE') THEN 'TRUNCATE' END], NULL) AS rights
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind IN ('r', 'p', 'v', 'f') AND ${USER_SCHEMAS}) AS granted
     WHERE cardinality(rights) > 0
     ORDER BY 1`);
  return rows.map(
    ({ relation, rights }) => `role ${role}: may ${rights.join(', ')} on ${relation} (it must only read)`,
  );
}

interface ConnectRow {
  role: string;
  database: string;
  connect: boolean;
}

/**
 * Who may CONNECT to which database, from pg_database and pg_roles (cluster-wide, readable by
 * any role), per tenant. The dedicated databases are every `<NAME>_t<ID>` of the catalog, so a
 * database left behind, with no credentials, is checked too.
 */
async function checkConnectRights(
  runtimeUrl: string,
  main: string,
  tenants: readonly { tenantId: number; names: DedicatedNames }[],
): Promise<Map<number, string[]>> {
  const client = new pg.Client({ connectionString: runtimeUrl, application_name: 'tenantql db check' });
  await client.connect();
  try {
    const dedicated = `starts_with(d.datname, $1) AND substr(d.datname, length($1) + 1) ~ '^[1-9][0-9]{0,9}$'`;
    const prefix = `${main}_t`;
    const databases = await client.query<{ database: string; runtime: string | null; public: boolean }>(
      `SELECT d.datname AS database,
              CASE WHEN has_database_privilege(d.oid, 'CONNECT') THEN current_user::text END AS runtime,
              has_database_privilege('public', d.oid, 'CONNECT') AS public
         FROM pg_database d WHERE ${dedicated} ORDER BY 1`,
      [prefix],
    );
    const roles = tenants.flatMap(({ names }) => [names.rw, names.ro]);
    const rights = await client.query<ConnectRow>(
      `SELECT r.rolname AS role, d.datname AS database, has_database_privilege(r.oid, d.oid, 'CONNECT') AS connect
         FROM pg_roles r CROSS JOIN pg_database d
        WHERE r.rolname = ANY($2::text[]) AND (d.datname = $3 OR ${dedicated})
        ORDER BY 1, 2`,
      [prefix, roles, main],
    );

    const found = new Map<number, string[]>();
    const report = (tenantId: number, line: string) =>
      found.set(tenantId, [...(found.get(tenantId) ?? []), line]);
    const tenantOf = (database: string) => Number(database.slice(prefix.length));
    for (const row of databases.rows) {
      const tenantId = tenantOf(row.database);
      if (row.runtime) report(tenantId, `the shared runtime role ${row.runtime} may connect to it`);
      if (row.public) report(tenantId, 'PUBLIC may connect to it (REVOKE CONNECT … FROM PUBLIC)');
    }
    for (const { tenantId, names } of tenants) {
      for (const row of rights.rows.filter((r) => r.role === names.rw || r.role === names.ro)) {
        const own = row.database === names.database;
        if (own && !row.connect) report(tenantId, `role ${row.role}: may not connect to its own database`);
        if (own || !row.connect) continue;
        const where =
          row.database === main
            ? `the shared database ${main}`
            : `database ${row.database}, tenant ${tenantOf(row.database)}'s`;
        report(tenantId, `role ${row.role}: may connect to ${where}`);
      }
    }
    return found;
  } finally {
    await client.end();
  }
}
