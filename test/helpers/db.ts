import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { grantKeysDatabaseAccess, keysDatabaseOf } from '../../src/db/keys-database.js';
import { connectionUrl, grantDatabaseAccess } from '../../src/db/setup.js';
import { pgBouncerAdmin } from './pgbouncer.js';

export interface TestDatabase {
  name: string;
  /** The runtime role, as DATABASE_URL: subject to row level security. */
  appUrl: string;
  /** The admin role (BYPASSRLS), as DATABASE_ADMIN_URL. */
  adminUrl: string;
  /** The owner role, as DATABASE_OWNER_URL. */
  ownerUrl: string;
  superuserUrl: string;
  /** Set in the `pgbouncer` project: appUrl and adminUrl lead through this PgBouncer. */
  pgbouncer: { url: string; adminUrl: string } | undefined;
  /**
   * Its key store's database `<name>_keys` (SPEC §12), as `db setup` makes it, always direct:
   * the runtime role's URL (as the server derives it from DATABASE_URL), the owner's (rotation,
   * purge) and the superuser's.
   */
  keys: { name: string; appUrl: string; ownerUrl: string; superuserUrl: string };
  /** Drops the database and its key store, warning about (and cutting) connections a test left open. */
  drop(): Promise<void>;
}

export interface CreateTestDatabaseOptions {
  /** An empty database (from template0) owned by the owner role, for migration tests. @default false */
  empty?: boolean;
}

/**
 * A fresh database per test file, cloned from the run's migrated template with
 * `CREATE DATABASE ... TEMPLATE` (as graphile/crystal's tests do): fast and isolated. Its key
 * store `<name>_keys` is cloned the same way from the template's.
 *
 * Its roles are the template's, not `<name>_owner` etc.: migrations derived the role names
 * from the template's database name, and the clone copies those grants as they are. So
 * every clone of a run shares three roles: tests must not alter them (create a probe role
 * under the template's prefix instead), and migrations that derive role names from
 * `current_database()` cannot be re-run on a clone.
 */
export async function createTestDatabase(options: CreateTestDatabaseOptions = {}): Promise<TestDatabase> {
  const superuserUrl = inject('superuserUrl');
  const template = inject('templateDatabase');
  const roles = inject('roles');
  const name = `${template}_${randomBytes(4).toString('hex')}`;
  const keysName = keysDatabaseOf(name);
  const ident = pg.escapeIdentifier;
  const owner = ident(roles.owner.name);

  // Database-level grants belong to pg_database, so a clone does not inherit them. The two
  // clones at once, on two connections: the key store's costs almost no time that way.
  const source = options.empty ? 'template0' : template;
  await Promise.all([
    withClient(superuserUrl, async (client) => {
      await client.query(`CREATE DATABASE ${ident(name)} TEMPLATE ${ident(source)} OWNER ${owner}`);
      await grantDatabaseAccess(client, name, {
        owner: roles.owner.name,
        app: roles.app.name,
        admin: roles.admin.name,
      });
    }),
    // The key store from its template, as `db setup` made it: its table and grants come with it.
    withClient(superuserUrl, async (client) => {
      const keysTemplate = ident(keysDatabaseOf(template));
      await client.query(`CREATE DATABASE ${ident(keysName)} TEMPLATE ${keysTemplate} OWNER ${owner}`);
      await grantKeysDatabaseAccess(client, keysName, { owner: roles.owner.name, app: roles.app.name });
    }),
  ]);

  // The serving roles (runtime, admin) through PgBouncer in the `pgbouncer` project, as in a
  // production behind a pooler; set-up, owner and superuser connections always go direct.
  const pgbouncer = inject('throughPgBouncer') ? inject('pgbouncer') : undefined;
  if (pgbouncer === null) throw new Error('the pgbouncer project needs PgBouncer (unset TEST_PGBOUNCER)');
  const servingUrl = pgbouncer ? viaPooler(superuserUrl, pgbouncer.url) : superuserUrl;
  return {
    name,
    appUrl: connectionUrl(servingUrl, name, roles.app.name, roles.app.password),
    adminUrl: connectionUrl(servingUrl, name, roles.admin.name, roles.admin.password),
    ownerUrl: connectionUrl(superuserUrl, name, roles.owner.name, roles.owner.password),
    superuserUrl: connectionUrl(superuserUrl, name),
    pgbouncer,
    keys: {
      name: keysName,
      appUrl: connectionUrl(superuserUrl, keysName, roles.app.name, roles.app.password),
      ownerUrl: connectionUrl(superuserUrl, keysName, roles.owner.name, roles.owner.password),
      superuserUrl: connectionUrl(superuserUrl, keysName),
    },
    drop: async () => {
      if (pgbouncer) await releasePooledConnections(pgbouncer.adminUrl, name);
      await withClient(superuserUrl, async (client) => {
        for (const database of [name, keysName]) {
          const { rows } = await client.query<{ open: number }>(
            'SELECT count(*)::int AS open FROM pg_stat_activity WHERE datname = $1',
            [database],
          );
          const open = rows[0]?.open ?? 0;
          if (open > 0)
            console.warn(
              `test database ${database}: ${open} connection(s) still open at drop; close them in afterAll`,
            );
          await client.query(`DROP DATABASE IF EXISTS ${ident(database)} WITH (FORCE)`);
        }
        await dropDedicated(client, name);
      });
    },
  };
}

/** The dedicated tenants' databases and roles of `main` (`<main>_t<id>…`, SPEC §10). */
async function dropDedicated(client: pg.Client, main: string): Promise<void> {
  const prefix = `${main}_t`;
  const { rows: databases } = await client.query<{ datname: string }>(
    'SELECT datname FROM pg_database WHERE starts_with(datname, $1)',
    [prefix],
  );
  for (const { datname } of databases) {
    await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(datname)} WITH (FORCE)`);
  }
  const { rows: roles } = await client.query<{ rolname: string }>(
    'SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)',
    [prefix],
  );
  for (const { rolname } of roles) await client.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(rolname)}`);
}

/** `url` with the pooler's host and port. */
function viaPooler(url: string, poolerUrl: string): string {
  const result = new URL(url);
  const pooler = new URL(poolerUrl);
  result.hostname = pooler.hostname;
  result.port = pooler.port;
  return result.toString();
}

/**
 * PgBouncer keeps its server connections after the test's clients are gone; they would count as
 * left open at drop. A client still connected to PgBouncer is the test's leak: warn as drop does.
 */
async function releasePooledConnections(adminUrl: string, database: string): Promise<void> {
  const clients = await pgBouncerAdmin<{ database: string }>(adminUrl, 'SHOW CLIENTS');
  const open = clients.filter((c) => c.database === database).length;
  if (open > 0)
    console.warn(
      `test database ${database}: ${open} connection(s) to PgBouncer still open at drop; close them in afterAll`,
    );
  // A file of the pgbouncer project whose serving roles never reached PgBouncer went direct.
  const known = await pgBouncerAdmin<{ name: string }>(adminUrl, 'SHOW DATABASES');
  if (!known.some((d) => d.name === database))
    throw new Error(`test database ${database}: no connection went through PgBouncer`);
  // The console takes a bare name; ours are `tqt_<hex>_<hex>`.
  if (/^\w+$/.test(database)) await pgBouncerAdmin(adminUrl, `KILL ${database}`);
}

export interface TenantRow {
  id: number;
  subdomain: string;
  name: string;
  kind: 'system' | 'virtual' | 'regular';
  disabled: boolean;
}

/** The tenants of SPEC §4's example file, as rows. */
export const exampleTenants: TenantRow[] = [
  { id: 1, subdomain: 'admin', name: 'System', kind: 'system', disabled: false },
  { id: 2, subdomain: 'tenant1', name: 'Tenant One', kind: 'regular', disabled: false },
  { id: 3, subdomain: 'tenant2', name: 'Tenant Two', kind: 'regular', disabled: false },
  { id: 81, subdomain: 'reports', name: 'Reports service', kind: 'virtual', disabled: false },
  { id: 100, subdomain: 'acme', name: 'Acme', kind: 'regular', disabled: true },
];

/**
 * Upserts `tenants` through app.sync_tenants (marking any others removed), as the server does:
 * `url` is the admin or the owner role, since the runtime role may not execute it.
 */
export async function syncTenants(url: string, tenants: TenantRow[]): Promise<void> {
  await withClient(url, (client) =>
    client.query('SELECT app.sync_tenants($1::jsonb)', [JSON.stringify(tenants)]),
  );
}

/**
 * Runs `fn` in a transaction whose `app.tenant_id` is `tenant`, set transaction-locally as
 * the server does; rolls back if `fn` throws. The tenant is a string too, to test bad values.
 */
export async function inTenant<T>(
  client: pg.Client,
  tenant: number | string,
  fn: () => Promise<T>,
): Promise<T> {
  await client.query('BEGIN');
  try {
    await client.query("SELECT set_config('app.tenant_id', $1, true)", [String(tenant)]);
    const result = await fn();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
}

/** One connection for the length of `fn`, always closed. */
export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * A slow SQL path for the tests that install it in their own databases only: inserting a
 * project named `slow:<ms>` sleeps that long, holding its connection.
 */
export const SLOW_TRIGGER = `
  CREATE FUNCTION app.test_slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    IF NEW.name LIKE 'slow:%' THEN PERFORM pg_sleep(split_part(NEW.name, ':', 2)::int / 1000.0); END IF;
    RETURN NEW;
  END $$;
  CREATE TRIGGER test_slow_insert BEFORE INSERT ON app.projects
    FOR EACH ROW EXECUTE FUNCTION app.test_slow_insert();`;
