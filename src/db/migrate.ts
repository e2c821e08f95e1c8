import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { type Logger, silentLogger } from '../observability/logger.js';

export interface MigrateOptions {
  /**
   * Directory of `*.sql` files, applied in filename order.
   * @default the repository's `migrations/`
   */
  dir?: string;
  /**
   * A product's own migrations (its tenant tables), applied after every one of `dir`, with the
   * same checksum and lock rules. Recorded as `product/<file>`, so its names never collide
   * with tenantql's.
   */
  productDir?: string;
  /** @default silentLogger */
  logger?: Logger;
  /**
   * A role to `SET ROLE` to after connecting, so what the migrations create is owned by it: a
   * dedicated tenant's database is migrated by a login that is a member of its NOLOGIN owner.
   */
  role?: string;
}

export const defaultMigrationsDir = fileURLToPath(new URL('../../migrations/', import.meta.url));

/**
 * Session advisory lock key ("tenantql" as ASCII, fits an int8): a second migrator
 * waits here, then finds everything applied. Advisory locks are per database, so
 * databases in one cluster do not block each other.
 */
const LOCK_KEY = '8387231245791424876';

const PRODUCT_PREFIX = 'product/';

/**
 * Released texts of tenantql's own migrations that were later rewritten, by file: when the
 * demo became a product of its own, its tables (members, projects, tasks) left 002 and 004 for
 * its own migrations (migrations/example/). A database that applied an earlier text keeps what
 * it made, and its record is brought up to the current text; any other change is refused.
 */
const RELEASED_EARLIER: Readonly<Record<string, readonly string[]>> = {
  '002_core.sql': ['1a73b733ecf203b5234d2af63d8b48049eb6d678d29b36f63ee24598efd82b79'],
  '004_tenant_row_ids.sql': ['e646258f20806737d65925eb5eefe0fe5b2ca9b0be5a9762920ac629264ec5af'],
};

interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

/**
 * Applies the migrations not yet recorded in `app_meta.migrations`, each in its own
 * transaction, as the role of `ownerUrl` (the owner role: it must own what it creates).
 * Refuses to run if an applied file has changed since, naming it.
 */
export async function migrate(
  ownerUrl: string,
  options: MigrateOptions = {},
): Promise<{ applied: string[] }> {
  const dir = options.dir ?? defaultMigrationsDir;
  const logger = options.logger ?? silentLogger;
  const migrations = [
    ...(await readMigrations(dir)),
    ...(options.productDir ? await readMigrations(options.productDir, PRODUCT_PREFIX) : []),
  ];

  const client = new pg.Client({ connectionString: ownerUrl, application_name: 'tenantql migrate' });
  await client.connect();
  try {
    if (options.role) await client.query(`SET ROLE ${pg.escapeIdentifier(options.role)}`);
    await client.query('SELECT pg_advisory_lock($1::bigint)', [LOCK_KEY]);
    // Created under the lock: two concurrent `CREATE ... IF NOT EXISTS` can still collide.
    // Not granted to anyone, so the runtime role cannot read or rewrite the history.
    await client.query(`
      CREATE SCHEMA IF NOT EXISTS app_meta;
      REVOKE ALL ON SCHEMA app_meta FROM PUBLIC;
      CREATE TABLE IF NOT EXISTS app_meta.migrations (
        name text PRIMARY KEY,
        checksum text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      );`);

    const { rows } = await client.query<{ name: string; checksum: string }>(
      'SELECT name, checksum FROM app_meta.migrations',
    );
    const recorded = new Map(rows.map((row) => [row.name, row.checksum]));
    // Check every file before applying any, so a refused run changes nothing.
    const rewritten: Migration[] = [];
    for (const migration of migrations) {
      const checksum = recorded.get(migration.name);
      if (checksum !== undefined && RELEASED_EARLIER[migration.name]?.includes(checksum)) {
        rewritten.push(migration);
        continue;
      }
      if (checksum !== undefined && checksum !== migration.checksum) {
        throw new Error(
          `migration ${migration.name} was changed after it was applied (checksum ${checksum.slice(0, 12)}… is now ${migration.checksum.slice(0, 12)}…); add a new migration instead`,
        );
      }
    }
    const names = new Set(migrations.map((m) => m.name));
    for (const name of recorded.keys()) {
      if (!names.has(name))
        logger.warn({ migration: name, dir }, 'applied migration is missing from the directory');
    }

    for (const migration of rewritten) {
      await client.query('UPDATE app_meta.migrations SET checksum = $2 WHERE name = $1', [
        migration.name,
        migration.checksum,
      ]);
      logger.info({ migration: migration.name }, 'applied migration was released with an earlier text');
    }

    const applied: string[] = [];
    for (const migration of migrations) {
      if (recorded.has(migration.name)) continue;
      await applyOne(client, migration);
      logger.info({ migration: migration.name }, 'applied migration');
      applied.push(migration.name);
    }
    return { applied };
  } finally {
    // Ending the session releases the advisory lock too, even if the unlock is never sent.
    await client.end();
  }
}

async function applyOne(client: pg.Client, migration: Migration): Promise<void> {
  await client.query('BEGIN');
  try {
    // No parameters: the simple query protocol runs a multi-statement file as one string.
    await client.query(migration.sql);
    await client.query('INSERT INTO app_meta.migrations (name, checksum) VALUES ($1, $2)', [
      migration.name,
      migration.checksum,
    ]);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`migration ${migration.name} failed: ${reason}`, { cause: error });
  }
}

async function readMigrations(dir: string, prefix = ''): Promise<Migration[]> {
  let files: string[];
  try {
    files = await readdir(dir);
  } catch (error) {
    throw new Error(`migrations directory ${dir} cannot be read`, { cause: error });
  }
  // Code-unit order, not locale order, so every machine applies the same sequence.
  const names = files.filter((file) => file.endsWith('.sql')).sort();
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(join(dir, name), 'utf8');
      return { name: prefix + name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    }),
  );
}
