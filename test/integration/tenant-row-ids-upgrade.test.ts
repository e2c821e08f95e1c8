import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { defaultMigrationsDir, migrate } from '../../src/db/migrate.js';
import { connectionUrl, grantDatabaseAccess, roleNames } from '../../src/db/setup.js';
import { demoMigrationsDir } from '../../src/example/migrations.js';
import { inTenant, withClient } from '../helpers/db.js';

// migrations/004 on a database that already holds rows numbered by the old identity columns:
// every tenant's counter starts past every id in use, so no new row collides with an old one.
// That happened with 004 as it was released (the demo's tables were still tenantql's then), so
// the database is built from those released texts (test/fixtures/migrations-0.1 keeps the two
// that changed since), and then
// today's migrations must take it as it is. A clone of the test template has 004 applied
// already, so this database is built from scratch (its roles carry the run's prefix, so the
// run's teardown drops them if this file cannot).
const RELEASED = fileURLToPath(new URL('../fixtures/migrations-0.1/', import.meta.url));
const ident = pg.escapeIdentifier;
const name = `${inject('templateDatabase')}_upgrade_${randomBytes(3).toString('hex')}`;
const roles = roleNames(name);
const superuser = inject('superuserUrl');
const url = (role: string) => connectionUrl(superuser, name, role, 'upgrade-pw');
let dir: string;

beforeAll(async () => {
  await withClient(superuser, async (c) => {
    for (const role of [roles.owner, roles.app])
      await c.query(`CREATE ROLE ${ident(role)} LOGIN PASSWORD 'upgrade-pw'`);
    await c.query(`CREATE ROLE ${ident(roles.admin)} LOGIN BYPASSRLS PASSWORD 'upgrade-pw'`);
    await c.query(`CREATE DATABASE ${ident(name)} OWNER ${ident(roles.owner)}`);
    await grantDatabaseAccess(c, name, roles);
  });
  await withClient(connectionUrl(superuser, name), (c) =>
    c.query(
      `REVOKE CREATE ON SCHEMA public FROM PUBLIC; CREATE SCHEMA app AUTHORIZATION ${ident(roles.owner)}`,
    ),
  );
  dir = await mkdtemp(join(tmpdir(), 'tenantql-upgrade-'));
  // 001 and 003 are unchanged since; 002 and 004 as they were released.
  for (const file of ['001_tenancy.sql', '003_api_keys_audit.sql'])
    await copyFile(join(defaultMigrationsDir, file), join(dir, file));
  await copyFile(join(RELEASED, '002_core.sql'), join(dir, '002_core.sql'));
  await migrate(url(roles.owner), { dir });
});
afterAll(async () => {
  await withClient(superuser, async (c) => {
    await c.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`);
    for (const role of Object.values(roles)) await c.query(`DROP ROLE IF EXISTS ${ident(role)}`);
  });
  await rm(dir, { recursive: true, force: true });
});

const insertProject = (c: pg.Client, tenant: number) =>
  inTenant(c, tenant, async () => {
    const { rows } = await c.query(
      "INSERT INTO app.projects (tenant_id, name) VALUES ($1, 'p') RETURNING id",
      [tenant],
    );
    return Number(rows[0].id);
  });

describe('migration 004 on existing rows', () => {
  it('starts each tenant past its highest id and leaves no sequence', async () => {
    const tenants = [
      { id: 2, subdomain: 'one', name: 'One', kind: 'regular' },
      { id: 3, subdomain: 'two', name: 'Two', kind: 'regular' },
    ];
    await withClient(url(roles.owner), (c) =>
      c.query('SELECT app.sync_tenants($1::jsonb)', [JSON.stringify(tenants)]),
    );
    const old = await withClient(url(roles.app), async (c) => {
      const ids = { 2: [] as number[], 3: [] as number[] };
      // Interleaved through the shared identity: tenant 2 ends below tenant 3's highest id.
      for (const tenant of [2, 3, 3, 2, 3, 3]) ids[tenant as 2 | 3].push(await insertProject(c, tenant));
      await inTenant(c, 2, () =>
        c.query("INSERT INTO app.members (tenant_id, name, email) VALUES (2, 'm', 'm@x.test')"),
      );
      return ids;
    });

    await copyFile(join(RELEASED, '004_tenant_row_ids.sql'), join(dir, '004_tenant_row_ids.sql'));
    expect((await migrate(url(roles.owner), { dir })).applied).toEqual(['004_tenant_row_ids.sql']);

    const counters = await withClient(
      url(roles.admin),
      async (c) => (await c.query('SELECT tenant_id, last_id::int FROM app.tenant_row_ids ORDER BY 1')).rows,
    );
    // Tenant 2's members and projects share one identity each; its counter passes both.
    const memberId = await withClient(url(roles.admin), async (c) =>
      Number((await c.query('SELECT max(id) AS id FROM app.members WHERE tenant_id = 2')).rows[0].id),
    );
    expect(counters).toEqual([
      { tenant_id: 2, last_id: Math.max(...old[2], memberId) },
      { tenant_id: 3, last_id: Math.max(...old[3]) },
    ]);
    await withClient(url(roles.app), async (c) => {
      expect(await insertProject(c, 2)).toBe(Math.max(...old[2], memberId) + 1);
      expect(await insertProject(c, 3)).toBe(Math.max(...old[3]) + 1);
    });
    const sequences = await withClient(
      url(roles.owner),
      async (c) =>
        (
          await c.query(
            "SELECT relname FROM pg_class WHERE relkind = 'S' AND relnamespace = 'app'::regnamespace",
          )
        ).rows,
    );
    expect(sequences).toEqual([]);
  });

  it("is taken as it is by today's migrations and the demo's own, its rows kept", async () => {
    const count = () =>
      withClient(url(roles.admin), async (c) =>
        Number((await c.query('SELECT count(*) AS n FROM app.projects')).rows[0].n),
      );
    const before = await count();
    expect(before).toBeGreaterThan(0);
    const { applied } = await migrate(url(roles.owner), { productDir: demoMigrationsDir });
    expect(applied).toEqual([
      '005_registry_sync_role.sql',
      '006_product_tables.sql',
      '007_tenant_isolation.sql',
      '008_tenant_lifecycle.sql',
      '009_api_key_scope.sql',
      '010_session_revocations.sql',
      '011_sync_tenant_changes.sql',
      'product/001_demo_tables.sql',
      'product/002_encrypted_member_email.sql',
    ]);
    expect(await count()).toBe(before);
    // The counters go on where they were.
    const next = await withClient(url(roles.admin), async (c) =>
      Number((await c.query('SELECT last_id FROM app.tenant_row_ids WHERE tenant_id = 3')).rows[0].last_id),
    );
    await withClient(url(roles.app), async (c) => expect(await insertProject(c, 3)).toBe(next + 1));
  });
});
