import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import migrateCommand from '../../src/cli/migrate.js';
import { migrate } from '../../src/db/migrate.js';
import { demoMigrationsDir } from '../../src/example/migrations.js';
import { createTestDatabase, type TestDatabase, withClient } from '../helpers/db.js';

const databases: TestDatabase[] = [];
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tenantql-migrations-'));
});
afterAll(async () => {
  await Promise.all(databases.map((db) => db.drop()));
  await rm(dir, { recursive: true, force: true });
});

async function database(options?: { empty?: boolean }) {
  const db = await createTestDatabase(options);
  databases.push(db);
  return db;
}

/** A fresh migrations directory holding `files`. */
async function migrations(files: Record<string, string>): Promise<string> {
  const path = await mkdtemp(join(dir, 'set-'));
  for (const [name, sql] of Object.entries(files)) await writeFile(join(path, name), sql);
  return path;
}

const tableExists = (url: string, table: string) =>
  withClient(url, async (c) => (await c.query('SELECT to_regclass($1) AS t', [table])).rows[0].t !== null);

describe('migrate', () => {
  it('is a no-op on a migrated database, however often it runs', async () => {
    const db = await database();
    const demo = { productDir: demoMigrationsDir };
    expect(await migrate(db.ownerUrl, demo)).toEqual({ applied: [] });
    expect(await migrate(db.ownerUrl, demo)).toEqual({ applied: [] });
    const { rows } = await withClient(db.ownerUrl, (c) =>
      c.query('SELECT name, checksum FROM app_meta.migrations ORDER BY name'),
    );
    const shipped = (await readdir('migrations')).filter((f) => f.endsWith('.sql')).sort();
    expect(shipped.slice(0, 2)).toEqual(['001_tenancy.sql', '002_core.sql']);
    const demoShipped = (await readdir(demoMigrationsDir)).filter((f) => f.endsWith('.sql')).sort();
    expect(demoShipped[0]).toBe('001_demo_tables.sql');
    // The test template is the demo's database: tenantql's migrations, then the demo's own.
    expect(rows.map((row) => row.name)).toEqual([...shipped, ...demoShipped.map((f) => `product/${f}`)]);
    for (const row of rows) expect(row.checksum).toMatch(/^[0-9a-f]{64}$/);
  });

  it('applies files in name order, once each', async () => {
    const db = await database({ empty: true });
    const path = await migrations({
      '002_fill.sql': 'INSERT INTO public.t VALUES (1);',
      '001_create.sql': 'CREATE TABLE public.t (id int);',
      'README.md': 'not a migration',
    });
    expect(await migrate(db.ownerUrl, { dir: path })).toEqual({
      applied: ['001_create.sql', '002_fill.sql'],
    });
    expect(await migrate(db.ownerUrl, { dir: path })).toEqual({ applied: [] });
    const { rows } = await withClient(db.ownerUrl, (c) => c.query('SELECT count(*)::int AS n FROM public.t'));
    expect(rows[0].n).toBe(1);
  });

  it('refuses an applied file that changed, naming it, and applies nothing else', async () => {
    const db = await database({ empty: true });
    const path = await migrations({ '001_create.sql': 'CREATE TABLE public.t (id int);' });
    await migrate(db.ownerUrl, { dir: path });
    await writeFile(join(path, '001_create.sql'), 'CREATE TABLE public.t (id bigint);');
    await writeFile(join(path, '002_more.sql'), 'CREATE TABLE public.more (id int);');
    await expect(migrate(db.ownerUrl, { dir: path })).rejects.toThrow(/001_create\.sql was changed/);
    expect(await tableExists(db.ownerUrl, 'public.more')).toBe(false);
  });

  it('rolls back a failing file whole, naming it', async () => {
    const db = await database({ empty: true });
    const path = await migrations({ '001_bad.sql': 'CREATE TABLE public.half (id int); SELECT 1 / 0;' });
    await expect(migrate(db.ownerUrl, { dir: path })).rejects.toThrow(
      /migration 001_bad\.sql failed: division by zero/,
    );
    expect(await tableExists(db.ownerUrl, 'public.half')).toBe(false);
    const { rows } = await withClient(db.ownerUrl, (c) =>
      c.query('SELECT count(*)::int AS n FROM app_meta.migrations'),
    );
    expect(rows[0].n).toBe(0);
  });

  it('lets two concurrent runs through, applying each file once', async () => {
    const db = await database({ empty: true });
    const path = await migrations({
      '001_slow.sql': 'SELECT pg_sleep(0.2); CREATE TABLE public.once (id int);',
      '002_count.sql': 'INSERT INTO public.once VALUES (1);',
    });
    const results = await Promise.all([
      migrate(db.ownerUrl, { dir: path }),
      migrate(db.ownerUrl, { dir: path }),
    ]);
    expect(results.flatMap((result) => result.applied).sort()).toEqual(['001_slow.sql', '002_count.sql']);
    const { rows } = await withClient(db.ownerUrl, (c) =>
      c.query('SELECT count(*)::int AS n FROM public.once'),
    );
    expect(rows[0].n).toBe(1);
  });

  it("applies a product's migrations after tenantql's, under their own names and the same rules", async () => {
    const db = await database();
    // Same file name as one of tenantql's: recorded as product/…, so they cannot collide.
    const product = await migrations({
      '001_tenancy.sql': `
        CREATE TABLE app.notes (
          tenant_id integer NOT NULL REFERENCES app.tenants (id),
          id bigint NOT NULL,
          body text NOT NULL,
          PRIMARY KEY (tenant_id, id)
        );
        -- What app.make_tenant_scoped does, by hand: on a clone it would grant to roles named
        -- after the clone, which do not exist (see test/helpers/db.ts).
        ALTER TABLE app.notes ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_isolation ON app.notes
          USING (tenant_id = (SELECT app.current_tenant_id()))
          WITH CHECK (tenant_id = (SELECT app.current_tenant_id()));
        GRANT SELECT, INSERT, UPDATE, DELETE ON app.notes TO ${inject('roles').app.name};
        SELECT app.use_tenant_row_ids('app.notes');`,
    });
    expect(await migrate(db.ownerUrl, { productDir: product })).toEqual({
      applied: ['product/001_tenancy.sql'],
    });
    expect(await migrate(db.ownerUrl, { productDir: product })).toEqual({ applied: [] });
    const { rows } = await withClient(db.ownerUrl, (c) =>
      c.query("SELECT name FROM app_meta.migrations WHERE name LIKE 'product/%'"),
    );
    // Beside the demo's own (the template is the demo's database).
    expect(rows.map((row) => row.name).sort()).toEqual([
      'product/001_demo_tables.sql',
      'product/001_tenancy.sql',
      'product/002_encrypted_member_email.sql',
    ]);

    // Its rows are numbered per tenant, like tenantql's own tables.
    await withClient(db.superuserUrl, (c) =>
      c.query(
        "INSERT INTO app.tenants (id, subdomain, name, kind) VALUES (2, 'a', 'A', 'regular'), (3, 'b', 'B', 'regular')",
      ),
    );
    const insert = (tenant: number) =>
      withClient(db.appUrl, async (c) => {
        await c.query('BEGIN');
        await c.query("SELECT set_config('app.tenant_id', $1, true)", [String(tenant)]);
        const { rows } = await c.query(
          'INSERT INTO app.notes (tenant_id, body) VALUES ($1, $2) RETURNING id',
          [tenant, 'n'],
        );
        await c.query('COMMIT');
        return rows[0].id;
      });
    expect([await insert(2), await insert(2), await insert(3)]).toEqual(['1', '2', '1']);

    await writeFile(join(product, '001_tenancy.sql'), 'SELECT 1;');
    await expect(migrate(db.ownerUrl, { productDir: product })).rejects.toThrow(
      /product\/001_tenancy\.sql was changed/,
    );
  });

  it('takes a database that applied a released earlier text of 002 or 004, and records the current one', async () => {
    const db = await database();
    const checksums = async () =>
      Object.fromEntries(
        (
          await withClient(db.ownerUrl, (c) =>
            c.query(
              "SELECT name, checksum FROM app_meta.migrations WHERE name IN ('002_core.sql', '004_tenant_row_ids.sql')",
            ),
          )
        ).rows.map((row) => [row.name, row.checksum]),
      );
    const current = await checksums();
    // As a database migrated before the demo's tables left these files records them.
    const earlier = {
      '002_core.sql': '1a73b733ecf203b5234d2af63d8b48049eb6d678d29b36f63ee24598efd82b79',
      '004_tenant_row_ids.sql': 'e646258f20806737d65925eb5eefe0fe5b2ca9b0be5a9762920ac629264ec5af',
    };
    for (const [name, checksum] of Object.entries(earlier)) {
      await withClient(db.ownerUrl, (c) =>
        c.query('UPDATE app_meta.migrations SET checksum = $2 WHERE name = $1', [name, checksum]),
      );
    }
    expect(await migrate(db.ownerUrl, { productDir: demoMigrationsDir })).toEqual({ applied: [] });
    expect(await checksums()).toEqual(current);

    // Any other text is still refused.
    await withClient(db.ownerUrl, (c) =>
      c.query(
        "UPDATE app_meta.migrations SET checksum = repeat('0', 64) WHERE name = '004_tenant_row_ids.sql'",
      ),
    );
    await expect(migrate(db.ownerUrl, { productDir: demoMigrationsDir })).rejects.toThrow(
      /004_tenant_row_ids\.sql was changed/,
    );
  });

  it('fails on a missing directory', async () => {
    const db = await database({ empty: true });
    await expect(migrate(db.ownerUrl, { dir: join(dir, 'nowhere') })).rejects.toThrow(
      /migrations directory .* cannot be read/,
    );
  });
});

describe('tenantql migrate', () => {
  afterEach(() => vi.restoreAllMocks());

  it('needs DATABASE_OWNER_URL', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(await migrateCommand([], {})).toBe(2);
    expect(String(stderr.mock.calls[0]?.[0])).toMatch(/DATABASE_OWNER_URL is not set/);
  });

  it('reports a migrated database as up to date', async () => {
    const db = await database();
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    expect(await migrateCommand([], { DATABASE_OWNER_URL: db.ownerUrl })).toBe(0);
    expect(stdout.mock.calls.map((call) => String(call[0]))).toEqual(['up to date\n']);
  });
});
