import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import pg from 'pg';
import { type Logger, silentLogger } from '../observability/logger.js';
import { ensureKeysDatabase } from './keys-database.js';
import { migrate } from './migrate.js';
import { withClient } from './short-client.js';
import { connectionUrl } from './urls.js';

export interface RoleNames {
  /** Owns the database, its schemas and tables; runs migrations; never serves requests. */
  owner: string;
  /** The runtime role (`DATABASE_URL`): DML only, subject to row level security. */
  app: string;
  /** `DATABASE_ADMIN_URL`: BYPASSRLS and SELECT, for the system tenant's host only. */
  admin: string;
}

export interface SetupOptions {
  /** A superuser connection; its host, port and query string are reused in the returned URLs. */
  superuserUrl: string;
  /** @default 'tenantql' */
  database?: string;
  /** @default fresh random passwords, so every run rotates them */
  passwords?: { owner: string; app: string; admin: string };
  /** A product's own migrations, applied after tenantql's (see migrate.ts). */
  productMigrations?: string;
  /** @default silentLogger */
  logger?: Logger;
}

export interface DatabaseUrls {
  databaseUrl: string;
  adminUrl: string;
  ownerUrl: string;
}

/** Role names are derived from the database name; migrations derive them the same way. */
export function roleNames(database: string): RoleNames {
  return { owner: `${database}_owner`, app: `${database}_app`, admin: `${database}_admin` };
}

// Where it always was, for the commands and tests that import it from here.
export { connectionUrl } from './urls.js';

const ident = pg.escapeIdentifier;

// The three roles differ only in BYPASSRLS; none can create roles, databases or replicate.
const ATTRIBUTES = 'LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION';

/**
 * Creates (or brings back in line) the database, its three roles and their grants, and the key
 * store's database `<NAME>_keys`, then migrates as the owner. Idempotent; every run sets new
 * passwords unless given.
 */
export async function setupDatabase(options: SetupOptions): Promise<DatabaseUrls> {
  const database = options.database ?? 'tenantql';
  // 57 leaves room for the longest suffix within PostgreSQL's 63-byte identifiers.
  if (!/^[a-z_][a-z0-9_]{0,56}$/.test(database)) {
    throw new TypeError(
      `database name "${database}" must match [a-z_][a-z0-9_]* and be at most 57 characters`,
    );
  }
  const roles = roleNames(database);
  const passwords = options.passwords ?? { owner: newPassword(), app: newPassword(), admin: newPassword() };

  await withClient(options.superuserUrl, async (client) => {
    const { rows } = await client.query<{ rolsuper: boolean }>(
      'SELECT rolsuper FROM pg_roles WHERE rolname = current_user',
    );
    if (!rows[0]?.rolsuper) throw new Error('db setup needs a superuser connection (--superuser-url)');

    await upsertRole(client, roles.owner, `${ATTRIBUTES} NOBYPASSRLS`, passwords.owner);
    await upsertRole(client, roles.app, `${ATTRIBUTES} NOBYPASSRLS`, passwords.app);
    await upsertRole(client, roles.admin, `${ATTRIBUTES} BYPASSRLS`, passwords.admin);
    await revokeMemberships(client, roles.app);
    // A backstop for a request that never commits (its pool must survive the disconnect).
    await client.query(`ALTER ROLE ${ident(roles.app)} SET idle_in_transaction_session_timeout = '60s'`);

    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) {
      await client.query(`CREATE DATABASE ${ident(database)} OWNER ${ident(roles.owner)}`);
    } else {
      await client.query(`ALTER DATABASE ${ident(database)} OWNER TO ${ident(roles.owner)}`);
    }
    await grantDatabaseAccess(client, database, roles);
  });

  await withClient(connectionUrl(options.superuserUrl, database), async (client) => {
    const owner = ident(roles.owner);
    // PostgreSQL < 15 lets everyone create in `public`: a table there could shadow ours.
    await client.query('REVOKE CREATE ON SCHEMA public FROM PUBLIC');
    await client.query(`CREATE SCHEMA IF NOT EXISTS app AUTHORIZATION ${owner}`);
    await client.query(`ALTER SCHEMA app OWNER TO ${owner}`);
  });
  // The wrapped data keys (SPEC §12), in a database of their own: a dump of this one has none.
  await ensureKeysDatabase({ superuserUrl: options.superuserUrl, mainDatabase: database, roles });

  const urls = {
    databaseUrl: connectionUrl(options.superuserUrl, database, roles.app, passwords.app),
    adminUrl: connectionUrl(options.superuserUrl, database, roles.admin, passwords.admin),
    ownerUrl: connectionUrl(options.superuserUrl, database, roles.owner, passwords.owner),
  };
  await migrate(urls.ownerUrl, {
    productDir: options.productMigrations,
    logger: options.logger ?? silentLogger,
  });
  return urls;
}

/**
 * Only the three roles may connect (PUBLIC gets CONNECT and TEMP by default). Exported for
 * test databases cloned from a template: database-level grants are not copied with it.
 */
export async function grantDatabaseAccess(client: pg.ClientBase, database: string, roles: RoleNames) {
  const db = ident(database);
  await client.query(`REVOKE ALL ON DATABASE ${db} FROM PUBLIC`);
  await client.query(`GRANT CONNECT ON DATABASE ${db} TO ${ident(roles.app)}, ${ident(roles.admin)}`);
}

async function upsertRole(client: pg.Client, name: string, attributes: string, password: string) {
  const { rowCount } = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name]);
  const verb = rowCount === 0 ? 'CREATE' : 'ALTER';
  // A SCRAM verifier, not the password, reaches the server: nothing to leak into its logs.
  // Outside printable ASCII, SASLprep would apply; let the server hash those itself.
  const ascii = /^[\x20-\x7e]+$/.test(password);
  const secret = pg.escapeLiteral(ascii ? scramSha256Verifier(password) : password);
  await client.query(`${verb} ROLE ${ident(name)} WITH ${attributes} PASSWORD ${secret}`);
}

/** Membership would let a serving role `SET ROLE` to something that escapes row security. */
export async function revokeMemberships(client: pg.ClientBase, member: string): Promise<void> {
  const { rows } = await client.query<{ role: string; grantor: string }>(
    `SELECT r.rolname AS role, g.rolname AS grantor
       FROM pg_auth_members m
       JOIN pg_roles r ON r.oid = m.roleid
       JOIN pg_roles g ON g.oid = m.grantor
      WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = $1)`,
    [member],
  );
  for (const { role, grantor } of rows) {
    // GRANTED BY: since PostgreSQL 16 each grantor's grant is separate and revoked on its own.
    await client.query(`REVOKE ${ident(role)} FROM ${ident(member)} GRANTED BY ${ident(grantor)}`);
  }
}

/**
 * The verifier `ALTER ROLE ... PASSWORD` stores for scram-sha-256 (RFC 5802/7677), as
 * psql's \password computes it, for a printable ASCII password (SASLprep leaves it as is).
 */
export function scramSha256Verifier(password: string, iterations = 4096): string {
  const salt = randomBytes(16);
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest('base64');
  const serverKey = createHmac('sha256', salted).update('Server Key').digest('base64');
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey}:${serverKey}`;
}

function newPassword(): string {
  return randomBytes(24).toString('base64url');
}
