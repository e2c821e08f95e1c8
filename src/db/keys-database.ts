import pg from 'pg';
import { withClient } from './short-client.js';
import { connectionUrl, databaseOfUrl } from './urls.js';

const ident = pg.escapeIdentifier;

/** The default key store's table (crypto/key-store.ts). */
export const KEYS_TABLE = 'keys.data_keys';

/** `<NAME>_keys`: the default key store's database, beside the main one. */
export const keysDatabaseOf = (mainDatabase: string) => `${mainDatabase}_keys`;

/**
 * The key store's URL from a main database URL: the same server, role and password, the database
 * `<NAME>_keys`. The server derives it from DATABASE_URL (the runtime role); rotation and purge,
 * which change and delete keys, from DATABASE_OWNER_URL.
 */
export function keysDatabaseUrl(mainUrl: string): string {
  return connectionUrl(mainUrl, keysDatabaseOf(databaseOfUrl(mainUrl)));
}

export interface KeysDatabaseRoles {
  /** Owns the database and the table: rotation (UPDATE) and purge (DELETE) run as it. */
  owner: string;
  /** The runtime role: SELECT and INSERT only (a first use makes a key). */
  app: string;
}

/**
 * Only the owner (who owns it) and the runtime role may connect: not PUBLIC, so neither the admin
 * role nor a dedicated tenant's roles. Exported for test databases cloned from a template, since
 * database-level grants are not copied with it.
 */
export async function grantKeysDatabaseAccess(
  client: pg.ClientBase,
  database: string,
  roles: KeysDatabaseRoles,
): Promise<void> {
  await client.query(`REVOKE ALL ON DATABASE ${ident(database)} FROM PUBLIC`);
  await client.query(`GRANT CONNECT ON DATABASE ${ident(database)} TO ${ident(roles.app)}`);
}

/**
 * Makes the key store's database `<NAME>_keys` (SPEC §12), or brings it back in line, as a
 * superuser; `tenantql db setup` runs it. Its own database, so a dump or a backup of the data
 * database holds no wrapped key. Idempotent: every statement is IF NOT EXISTS or a (re)grant, so
 * a later change to the table is one more idempotent statement here, applied by `db setup`.
 */
export async function ensureKeysDatabase(options: {
  superuserUrl: string;
  mainDatabase: string;
  roles: KeysDatabaseRoles;
}): Promise<string> {
  const name = keysDatabaseOf(options.mainDatabase);
  const owner = ident(options.roles.owner);
  const runtime = ident(options.roles.app);
  await withClient(options.superuserUrl, async (client) => {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount) await client.query(`ALTER DATABASE ${ident(name)} OWNER TO ${owner}`);
    else await client.query(`CREATE DATABASE ${ident(name)} OWNER ${owner} TEMPLATE template0`);
    await grantKeysDatabaseAccess(client, name, options.roles);
  });
  await withClient(connectionUrl(options.superuserUrl, name), async (client) => {
    // PostgreSQL < 15 lets everyone create in `public`.
    await client.query('REVOKE CREATE ON SCHEMA public FROM PUBLIC');
    await client.query(`CREATE SCHEMA IF NOT EXISTS keys AUTHORIZATION ${owner}`);
    await client.query(`ALTER SCHEMA keys OWNER TO ${owner}`);
    await client.query(`
      CREATE TABLE IF NOT EXISTS ${KEYS_TABLE} (
        tenant_id integer PRIMARY KEY CHECK (tenant_id > 0),
        -- AES-256-GCM under a master key, the tenant id as associated data (crypto/key-wrap.ts).
        wrapped bytea NOT NULL CHECK (length(wrapped) = 60),
        -- Which master key wrapped it (masterKeyId): a public id, not the key.
        master_id text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        rotated_at timestamptz
      )`);
    await client.query(`ALTER TABLE ${KEYS_TABLE} OWNER TO ${owner}`);
    // Brought back in line on every run: the runtime role reads and adds, nothing more.
    await client.query(`REVOKE ALL ON SCHEMA keys FROM PUBLIC, ${runtime}`);
    await client.query(`REVOKE ALL ON ${KEYS_TABLE} FROM PUBLIC, ${runtime}`);
    await client.query(`GRANT USAGE ON SCHEMA keys TO ${runtime}`);
    await client.query(`GRANT SELECT, INSERT ON ${KEYS_TABLE} TO ${runtime}`);
  });
  return name;
}
