import pg from 'pg';
import { dedicatedNames } from './names.js';
import { updateSecretsFile } from './provision.js';

const ident = pg.escapeIdentifier;

/**
 * The end of a tenant's own database (SPEC §10): the database, its login roles and groups, and
 * their credentials in the secrets file. `main` is a superuser's session. WITH (FORCE) ends the
 * connections servers still hold to it (idle pools; the tenant is already served elsewhere or
 * not at all). Resolves true if the database existed.
 */
export async function dropDedicatedDatabase(
  main: pg.Client,
  mainDatabase: string,
  tenantId: number,
  secretsFile: string,
): Promise<boolean> {
  const names = dedicatedNames(mainDatabase, tenantId);
  const { rowCount } = await main.query('SELECT 1 FROM pg_database WHERE datname = $1', [names.database]);
  await main.query(`DROP DATABASE IF EXISTS ${ident(names.database)} WITH (FORCE)`);
  // Logins first: they are members of the groups. Every object they owned or had a grant on was
  // in the database just dropped (and CONNECT on it), so nothing holds them back.
  for (const role of [names.rw, names.ro, names.connect, names.app, names.admin, names.owner]) {
    await main.query(`DROP ROLE IF EXISTS ${ident(role)}`);
  }
  await updateSecretsFile(main, secretsFile, (secrets) => secrets.delete(tenantId));
  return rowCount === 1;
}
