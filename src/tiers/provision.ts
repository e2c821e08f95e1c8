import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { recordLifecycleEvent } from '../db/lifecycle-events.js';
import { migrate } from '../db/migrate.js';
import { connectionUrl, revokeMemberships, scramSha256Verifier } from '../db/setup.js';
import { type Logger, silentLogger } from '../observability/logger.js';
import type { Tenant } from '../tenancy/tenants-file.js';
import { type DedicatedNames, databaseOf, dedicatedNames } from './names.js';
import { type Placements, readPlacements } from './placement.js';
import { readSecretsFile, type TenantCredentials, writeSecretsFile } from './secrets-file.js';

export interface ProvisionOptions {
  /** DATABASE_SUPERUSER_URL: creates the database and roles; never used by the server. */
  superuserUrl: string;
  /** The main (shared) database, NAME in `<NAME>_t<ID>`. */
  mainDatabase: string;
  /** The tenant, as the tenants file has it. */
  tenant: Tenant;
  /** The file's virtual tenants: they act on the tenant, and its audit log names them. */
  virtualTenants: readonly Tenant[];
  /** A product's own migrations, applied after tenantql's, as in the main database. */
  productMigrations?: string | undefined;
  /** TENANT_SECRETS_FILE. */
  secretsFile: string;
  /** New passwords for the tenant's roles even when the secrets file has them. */
  rotate?: boolean;
  logger?: Logger;
}

export interface ProvisionReport {
  tenantId: number;
  isolation: Tenant['isolation'];
  /** Set for a dedicated tenant. */
  database?: string;
  /** The database did not exist before this run. */
  created: boolean;
  /** New passwords were written to the secrets file. */
  rotated: boolean;
  /** Migrations applied to the tenant's database by this run. */
  applied: string[];
}

/** A refusal the operator can act on (one line, exit 1). */
export class ProvisionRefused extends Error {}

/**
 * Session advisory locks (key space "tq"): per tenant id, so two provisions of one tenant run
 * one after the other, never interleaved; and 0 (no tenant's id) around each rewrite of the
 * secrets file, which every provision shares.
 */
const LOCK_CLASS = 0x7471;

const ident = pg.escapeIdentifier;

/**
 * `tenantql tenants provision ID` (SPEC §10, §11): makes a tenant of the file ready. Its row in
 * the main database's tenants table always; for `isolation: database` also its own database,
 * migrated like the main one, with forced RLS inside, CONNECT for its own roles only, and the
 * credentials of `_rw` and `_ro` in the secrets file. Idempotent: run again it keeps the data
 * and the passwords (unless `rotate`), and applies migrations added since.
 *
 * The placement flips to `database` last, after the database, the roles and the secrets file
 * are complete: an interrupted run leaves the tenant where it was, and running it again
 * finishes the work.
 */
export async function provisionTenant(options: ProvisionOptions): Promise<ProvisionReport> {
  const { tenant } = options;
  if (tenant.kind !== 'regular' && tenant.isolation === 'database') {
    throw new ProvisionRefused(`tenant ${tenant.id} is not a regular tenant`);
  }
  const main = await connect(connectionUrl(options.superuserUrl, options.mainDatabase));
  try {
    await requireSuperuser(main);
    await lockTenantCommands(main, tenant.id);
    const { rowCount: purged } = await main.query(
      'SELECT 1 FROM app.tenants WHERE id = $1 AND purged_at IS NOT NULL',
      [tenant.id],
    );
    if (purged) {
      throw new ProvisionRefused(
        `tenant ${tenant.id} was purged; its id is not reused: give the new tenant another id`,
      );
    }
    const placed = await placementOf(main, tenant.id);
    if (tenant.isolation === 'shared') {
      if (placed === 'database') {
        throw new ProvisionRefused(
          `tenant ${tenant.id} has a database of its own; \`tenantql tenants move ${tenant.id} --to shared\` brings its rows back`,
        );
      }
      await upsertTenantRow(main, tenant, 'shared');
      await recordLifecycleEvent(main, tenant.id, 'provision', { isolation: 'shared' });
      return { tenantId: tenant.id, isolation: 'shared', created: false, rotated: false, applied: [] };
    }
    if (placed !== 'database') {
      const tables = await tablesWithRows(main, tenant.id);
      if (tables.length > 0) {
        throw new ProvisionRefused(
          `tenant ${tenant.id} has rows in the shared database (${tables.join(', ')}); \`tenantql tenants move ${tenant.id} --to database\` moves them`,
        );
      }
    }
    const { names, created, rotated, applied } = await prepareDedicatedDatabase(main, options);
    await upsertTenantRow(main, tenant, 'database');
    await recordLifecycleEvent(main, tenant.id, 'provision', {
      isolation: 'database',
      database: names.database,
      created,
      rotated,
      applied: applied.length,
    });
    return {
      tenantId: tenant.id,
      isolation: 'database',
      database: names.database,
      created,
      rotated,
      applied,
    };
  } finally {
    await main.end(); // ends the session, and with it the advisory lock
  }
}

/**
 * The tenant's database, roles and credentials, migrated and ready for rows, without placing the
 * tenant there: `tenants provision` places it next, `tenants move` copies the rows first.
 * `main` is the superuser's session in the main database, holding lockTenantCommands.
 */
export async function prepareDedicatedDatabase(
  main: pg.Client,
  options: ProvisionOptions,
): Promise<{ names: DedicatedNames; created: boolean; rotated: boolean; applied: string[] }> {
  const { tenant } = options;
  const names = dedicatedNames(options.mainDatabase, tenant.id);
  const sharedOwner = await databaseOwner(main, options.mainDatabase);
  const { credentials, rotated } = await provisionRoles(main, names, sharedOwner, options);
  const created = await provisionDatabase(main, options.superuserUrl, names);
  const applied = await migrateDedicated(
    options.superuserUrl,
    names,
    options.productMigrations,
    options.logger,
  );
  await fillTenantsTable(options.superuserUrl, names, tenant, options.virtualTenants);
  if (rotated) {
    await updateSecretsFile(main, options.secretsFile, (secrets) => secrets.set(tenant.id, credentials));
  }
  return { names, created, rotated, applied };
}

/**
 * Read, change, write the secrets file under one lock: every provision, move and purge rewrites
 * the same file. Refuses (and writes nothing) when the file cannot be read.
 */
export async function updateSecretsFile(
  main: pg.Client,
  file: string,
  change: (secrets: Map<number, TenantCredentials>) => void,
): Promise<void> {
  await main.query('SELECT pg_advisory_lock($1, 0)', [LOCK_CLASS]);
  try {
    const read = await readSecretsFile(file);
    if (!read.ok) throw new ProvisionRefused(read.problems.join('; '));
    const secrets = new Map(read.secrets);
    change(secrets);
    await writeSecretsFile(file, secrets);
  } finally {
    await main.query('SELECT pg_advisory_unlock($1, 0)', [LOCK_CLASS]);
  }
}

/** Provision, move and purge of one tenant run one after the other (a session lock, held to the end). */
export async function lockTenantCommands(main: pg.Client, tenantId: number): Promise<void> {
  await main.query('SELECT pg_advisory_lock($1, $2)', [LOCK_CLASS, tenantId]);
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: 'tenantql tenants provision' });
  await client.connect();
  return client;
}

export async function requireSuperuser(client: pg.Client): Promise<void> {
  const { rows } = await client.query<{ rolsuper: boolean }>(
    'SELECT rolsuper FROM pg_roles WHERE rolname = current_user',
  );
  if (!rows[0]?.rolsuper) {
    throw new ProvisionRefused(
      'DATABASE_SUPERUSER_URL must connect as a superuser (it creates databases and roles)',
    );
  }
}

async function placementOf(client: pg.Client, tenantId: number): Promise<string | undefined> {
  const { rows } = await client.query<{ isolation: string }>(
    'SELECT isolation FROM app.tenants WHERE id = $1',
    [tenantId],
  );
  return rows[0]?.isolation;
}

/**
 * The main database's tables that carry `tenant_id` (from the catalog, so a product's tables
 * count without being named) and hold a row of the tenant. The per-tenant id counters are no
 * data of the tenant's: only the next id its rows would get.
 */
async function tablesWithRows(client: pg.Client, tenantId: number): Promise<string[]> {
  const { rows: tables } = await client.query<{ name: string }>(`
    SELECT format('%I.%I', n.nspname, c.relname) AS name
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
     WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
       AND c.oid <> 'app.tenant_row_ids'::regclass
     ORDER BY 1`);
  const found: string[] = [];
  for (const { name } of tables) {
    // The name comes from the catalog, quoted by format('%I'); the superuser sees every row.
    const { rowCount } = await client.query(`SELECT 1 FROM ${name} WHERE tenant_id = $1 LIMIT 1`, [tenantId]);
    if (rowCount) found.push(name);
  }
  return found;
}

async function databaseOwner(client: pg.Client, database: string): Promise<string> {
  const { rows } = await client.query<{ owner: string }>(
    'SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1',
    [database],
  );
  if (!rows[0])
    throw new ProvisionRefused(`database ${database} does not exist (tenantql db setup creates it)`);
  return rows[0].owner;
}

async function roleExists(client: pg.Client, name: string): Promise<boolean> {
  const { rowCount } = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name]);
  return rowCount === 1;
}

// Like the main database's runtime role: nothing but LOGIN, and row security applies.
const LOGIN_ATTRIBUTES = 'LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT';
const GROUP_ATTRIBUTES = 'NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS';

/**
 * The NOLOGIN groups the migrations grant to (`<db>_owner`, `_app`, `_admin`) and the one that
 * may connect (`_connect`), and the two login roles: `_rw` in `_app` (DML), `_ro` in `_admin`
 * (SELECT). The shared owner joins `_owner` and `_connect`, so `tenantql migrate` can upgrade
 * the database later. Passwords change only for a new role, a missing secret, or `rotate`.
 */
async function provisionRoles(
  client: pg.Client,
  names: DedicatedNames,
  sharedOwner: string,
  options: ProvisionOptions,
): Promise<{ credentials: TenantCredentials; rotated: boolean }> {
  for (const group of [names.owner, names.app, names.admin, names.connect]) {
    const verb = (await roleExists(client, group)) ? 'ALTER' : 'CREATE';
    await client.query(`${verb} ROLE ${ident(group)} WITH ${GROUP_ATTRIBUTES}`);
  }
  const secrets = await readSecretsFile(options.secretsFile);
  if (!secrets.ok) throw new ProvisionRefused(secrets.problems.join('; '));
  const known = secrets.secrets.get(options.tenant.id);
  let rotated = false;
  const login = async (name: string, knownSecret: { user: string; password: string } | undefined) => {
    const exists = await roleExists(client, name);
    const keep = exists && !options.rotate && knownSecret?.user === name;
    const password = keep ? knownSecret!.password : randomBytes(24).toString('base64url');
    if (!keep) rotated = true;
    // A SCRAM verifier, not the password, reaches the server (and so its logs).
    const secret = keep ? '' : ` PASSWORD ${pg.escapeLiteral(scramSha256Verifier(password))}`;
    await client.query(
      `${exists ? 'ALTER' : 'CREATE'} ROLE ${ident(name)} WITH ${LOGIN_ATTRIBUTES}${secret}`,
    );
    // A backstop for a transaction that never ends, as for the shared runtime role.
    await client.query(`ALTER ROLE ${ident(name)} SET idle_in_transaction_session_timeout = '60s'`);
    // Memberships other than the ones granted below would widen what the role reaches.
    await revokeMemberships(client, name);
    return { user: name, password };
  };
  const rw = await login(names.rw, known?.rw);
  const ro = await login(names.ro, known?.ro);
  await client.query(`GRANT ${ident(names.app)}, ${ident(names.connect)} TO ${ident(names.rw)}`);
  await client.query(`GRANT ${ident(names.admin)}, ${ident(names.connect)} TO ${ident(names.ro)}`);
  await client.query(`GRANT ${ident(names.owner)}, ${ident(names.connect)} TO ${ident(sharedOwner)}`);
  return { credentials: { database: names.database, rw, ro }, rotated };
}

/**
 * One tenant's rows are small tables that stay in memory, where PostgreSQL's default
 * random_page_cost (4, a spinning disk's) makes a scan of a 20-row table look cheaper than its
 * primary key: the fast path's statement of a nested read looked up each task's assignee that
 * way and took twice as long as in the shared database (bench T: dedicated 0.58 × shared at 4,
 * 1.18 × with it set here). Set for the database unless someone already set it there (kept as they chose).
 */
export const DEDICATED_RANDOM_PAGE_COST = '1.1';

async function setRandomPageCost(client: pg.Client, database: string): Promise<void> {
  const { rowCount } = await client.query(
    `SELECT 1 FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
      WHERE d.datname = $1 AND s.setrole = 0 AND EXISTS (SELECT 1 FROM unnest(s.setconfig) c WHERE c LIKE 'random\\_page\\_cost=%')`,
    [database],
  );
  if (rowCount === 0) {
    await client.query(
      `ALTER DATABASE ${ident(database)} SET random_page_cost = ${DEDICATED_RANDOM_PAGE_COST}`,
    );
  }
}

/** The database, owned by its NOLOGIN owner; CONNECT for `_connect` only. True if it is new. */
async function provisionDatabase(
  client: pg.Client,
  superuserUrl: string,
  names: DedicatedNames,
): Promise<boolean> {
  const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [names.database]);
  const created = rowCount === 0;
  const db = ident(names.database);
  if (created) await client.query(`CREATE DATABASE ${db} OWNER ${ident(names.owner)} TEMPLATE template0`);
  else await client.query(`ALTER DATABASE ${db} OWNER TO ${ident(names.owner)}`);
  // PUBLIC has CONNECT and TEMP on a new database: neither the shared runtime role nor any other
  // tenant's roles may reach this one.
  await client.query(`REVOKE ALL ON DATABASE ${db} FROM PUBLIC`);
  await client.query(`GRANT CONNECT ON DATABASE ${db} TO ${ident(names.connect)}`);
  await setRandomPageCost(client, names.database);
  const inside = await connect(connectionUrl(superuserUrl, names.database));
  try {
    await inside.query('REVOKE CREATE ON SCHEMA public FROM PUBLIC');
    await inside.query(`CREATE SCHEMA IF NOT EXISTS app AUTHORIZATION ${ident(names.owner)}`);
    await inside.query(`ALTER SCHEMA app OWNER TO ${ident(names.owner)}`);
  } finally {
    await inside.end();
  }
  return created;
}

/**
 * tenantql's migrations and the product's, as the tenant database's owner, so it owns what
 * they create; then what differs from the main database: the SELECT group (`_ro`'s) may not
 * execute app.sync_tenants or app.sync_tenant_changes, which the migrations grant to every admin group. `loginUrl` is any
 * login that may `SET ROLE` to the owner: the superuser at provision, the shared owner role
 * (`tenantql migrate`, DATABASE_OWNER_URL) afterwards.
 */
export async function migrateDedicated(
  loginUrl: string,
  names: DedicatedNames,
  productMigrations: string | undefined,
  logger: Logger = silentLogger,
): Promise<string[]> {
  const url = connectionUrl(loginUrl, names.database);
  const { applied } = await migrate(url, { productDir: productMigrations, role: names.owner, logger });
  const client = await connect(url);
  try {
    await client.query(`SET ROLE ${ident(names.owner)}`);
    await client.query(`REVOKE EXECUTE ON FUNCTION app.sync_tenants(jsonb) FROM ${ident(names.admin)}`);
    await client.query(
      `REVOKE EXECUTE ON FUNCTION app.sync_tenant_changes(jsonb, integer[]) FROM ${ident(names.admin)}`,
    );
  } finally {
    await client.end();
  }
  return applied;
}

/**
 * The tenants table inside: the tenant's own row, and one for every possible virtual tenant
 * (ids 80 to 99), which the audit log's foreign key names when a peer server acts on the
 * tenant. Nothing of any other regular tenant is written here.
 */
async function fillTenantsTable(
  superuserUrl: string,
  names: DedicatedNames,
  tenant: Tenant,
  virtualTenants: readonly Tenant[],
): Promise<void> {
  const rows = [
    {
      id: tenant.id,
      subdomain: tenant.subdomain,
      name: tenant.name,
      kind: 'regular',
      disabled: tenant.disabled,
    },
  ];
  for (let id = 80; id <= 99; id++) {
    const known = virtualTenants.find((v) => v.id === id);
    rows.push({
      id,
      subdomain: known?.subdomain ?? `virtual-${id}`,
      name: known?.name ?? `Virtual tenant ${id}`,
      kind: 'virtual',
      disabled: known?.disabled ?? false,
    });
  }
  const client = await connect(connectionUrl(superuserUrl, names.database));
  try {
    await client.query('SELECT app.sync_tenants($1::jsonb)', [JSON.stringify(rows)]);
    await client.query("UPDATE app.tenants SET isolation = 'database' WHERE id = $1", [tenant.id]);
  } finally {
    await client.end();
  }
}

/** The main database's row: inserted if missing, its placement set (as the fact, SPEC §10). */
async function upsertTenantRow(client: pg.Client, tenant: Tenant, isolation: 'shared' | 'database') {
  await client.query(
    `INSERT INTO app.tenants (id, subdomain, name, kind, disabled, isolation)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (id) DO UPDATE SET isolation = excluded.isolation,
       updated_at = CASE WHEN app.tenants.isolation = excluded.isolation THEN app.tenants.updated_at ELSE now() END`,
    [tenant.id, tenant.subdomain, tenant.name, tenant.kind, tenant.disabled, isolation],
  );
}

/**
 * `tenantql migrate` after the main database: every database the tenants table places a
 * tenant in gets the same migrations, as the shared owner (a member of each `<db>_owner`).
 */
export async function migrateDedicatedTenants(
  ownerUrl: string,
  productMigrations: string | undefined,
  logger: Logger = silentLogger,
): Promise<{ tenantId: number; database: string; applied: string[] }[]> {
  const main = await connect(ownerUrl);
  let placements: Placements;
  try {
    placements = await readPlacements(main);
  } finally {
    await main.end();
  }
  const results = [];
  for (const [tenantId, isolation] of [...placements].sort(([a], [b]) => a - b)) {
    if (isolation !== 'database') continue;
    const names = dedicatedNames(databaseOf(ownerUrl), tenantId);
    const applied = await migrateDedicated(ownerUrl, names, productMigrations, logger);
    results.push({ tenantId, database: names.database, applied });
  }
  return results;
}
