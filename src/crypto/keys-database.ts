import pg from 'pg';
import { connectionUrl } from '../db/setup.js';
import { KEYS_TABLE } from './key-store.js';

const ident = pg.escapeIdentifier;

/** `<NAME>_keys`: the default key store's database, beside the main one. */
export const keysDatabaseOf = (mainDatabase: string) => `${mainDatabase}_keys`;

/**
 * The key store's database (SPEC §12), made or brought in line as a superuser: owned by the
 * main database's owner role, reachable only by it and the runtime role, one table. The runtime
 * role may read and add keys, never change or delete one (rotation and purge run as the owner).
 * Idempotent. Its own database, so a dump of the data database holds no wrapped key.
 */
export async function ensureKeysDatabase(options: {
  superuserUrl: string;
  mainDatabase: string;
  ownerRole: string;
  runtimeRole: string;
}): Promise<string> {
  const name = keysDatabaseOf(options.mainDatabase);
  const owner = ident(options.ownerRole);
  const runtime = ident(options.runtimeRole);
  const server = new pg.Client({
    connectionString: connectionUrl(options.superuserUrl, options.mainDatabase),
  });
  await server.connect();
  try {
    const { rowCount } = await server.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) await server.query(`CREATE DATABASE ${ident(name)} OWNER ${owner} TEMPLATE template0`);
    await server.query(`REVOKE ALL ON DATABASE ${ident(name)} FROM PUBLIC`);
    await server.query(`GRANT CONNECT ON DATABASE ${ident(name)} TO ${owner}, ${runtime}`);
  } finally {
    await server.end();
  }
  const inside = new pg.Client({ connectionString: connectionUrl(options.superuserUrl, name) });
  await inside.connect();
  try {
    await inside.query('REVOKE CREATE ON SCHEMA public FROM PUBLIC');
    await inside.query(`CREATE SCHEMA IF NOT EXISTS keys AUTHORIZATION ${owner}`);
    await inside.query(`
      CREATE TABLE IF NOT EXISTS ${KEYS_TABLE} (
        tenant_id integer PRIMARY KEY CHECK (tenant_id > 0),
        -- AES-256-GCM under a master key, the tenant id as associated data (crypto/key-wrap.ts).
        wrapped bytea NOT NULL CHECK (length(wrapped) = 60),
        master_id text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        rotated_at timestamptz
      )`);
    await inside.query(`ALTER TABLE ${KEYS_TABLE} OWNER TO ${owner}`);
    await inside.query(`REVOKE ALL ON ${KEYS_TABLE} FROM PUBLIC, ${runtime}`);
    await inside.query(`GRANT USAGE ON SCHEMA keys TO ${runtime}`);
    await inside.query(`GRANT SELECT, INSERT ON ${KEYS_TABLE} TO ${runtime}`);
  } finally {
    await inside.end();
  }
  return name;
}
