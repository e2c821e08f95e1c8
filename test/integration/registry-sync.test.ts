import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { defaultTenants, TEST_JWT_SECRET, TEST_SERVICE_SECRET, TestApp } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase, withClient } from '../helpers/db.js';
import { runCli } from '../helpers/server-process.js';

// Catalogue A10/G9: app.sync_tenants is SECURITY DEFINER and rewrites the tenant registry, so
// the role that serves tenant traffic must not reach it. The server syncs through the admin
// pool (it serves only the system host) or, without one, a short connection as the owner.
const withTenant5 = {
  ...defaultTenants,
  tenants: [...defaultTenants.tenants, { id: 5, subdomain: 'tenant4', name: 'Tenant Four' }],
};

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db?.drop());

const tenantRow = (url: string, id: number) =>
  withClient(url, async (c) => {
    const { rows } = await c.query(
      'SELECT id, removed_at IS NULL AS present FROM app.tenants WHERE id = $1',
      [id],
    );
    return rows[0];
  });

describe('the tenants registry', () => {
  it('cannot be written by the runtime role: EXECUTE on app.sync_tenants and app.sync_tenant_changes is refused', async () => {
    await withClient(db.appUrl, async (c) => {
      await expect(c.query("SELECT app.sync_tenants('[]'::jsonb)")).rejects.toEqual(
        expect.objectContaining({ code: '42501' }),
      );
      await expect(c.query("SELECT app.sync_tenant_changes('[]'::jsonb, '{2}')")).rejects.toEqual(
        expect.objectContaining({ code: '42501' }),
      );
      const { rows } = await c.query(
        `SELECT has_function_privilege('app.sync_tenants(jsonb)', 'EXECUTE') AS whole,
                has_function_privilege('app.sync_tenant_changes(jsonb, integer[])', 'EXECUTE') AS changes`,
      );
      expect(rows[0]).toEqual({ whole: false, changes: false });
    });
  });

  it('a reload writes what changed: a new tenant, a renamed one, one gone; the others are not touched', async () => {
    const t = await TestApp.start();
    try {
      const rows = () =>
        withClient(t.db.superuserUrl, async (c) => {
          const { rows } = await c.query(
            'SELECT id, name, removed_at IS NULL AS present, updated_at FROM app.tenants ORDER BY id',
          );
          return new Map(rows.map((r) => [r.id as number, r]));
        });
      const before = await rows();
      const next = {
        ...withTenant5,
        tenants: withTenant5.tenants
          .filter((x) => x.id !== 4)
          .map((x) => (x.id === 3 ? { ...x, name: 'Tenant Two, renamed' } : x)),
      };
      await t.writeTenants(next);
      expect((await t.registry.reload()).ok).toBe(true);
      const after = await rows();
      expect(after.get(5)).toMatchObject({ present: true, name: 'Tenant Four' });
      expect(after.get(3)).toMatchObject({ present: true, name: 'Tenant Two, renamed' });
      expect(after.get(4)).toMatchObject({ present: false });
      for (const id of [1, 2, 81]) expect(after.get(id)).toEqual(before.get(id));
      // Back as it was: the same three rows change again, nothing else.
      await t.writeTenants(defaultTenants);
      expect((await t.registry.reload()).ok).toBe(true);
      const again = await rows();
      expect(again.get(4)).toMatchObject({ present: true });
      expect(again.get(5)).toMatchObject({ present: false });
      expect(again.get(3)).toMatchObject({ name: 'Tenant Two' });
      for (const id of [1, 2, 81]) expect(again.get(id)).toEqual(before.get(id));
    } finally {
      await t.close();
    }
  });

  it.each([
    ['the admin pool', {}],
    ['a short connection as the owner, without DATABASE_ADMIN_URL', { DATABASE_ADMIN_URL: '' }],
  ])('is synced at start and on reload through %s', async (_name, env) => {
    const t = await TestApp.start({ env });
    try {
      expect(await tenantRow(t.db.superuserUrl, 4)).toEqual({ id: 4, present: true });
      await t.writeTenants(withTenant5);
      expect((await t.registry.reload()).ok).toBe(true);
      expect(await tenantRow(t.db.superuserUrl, 5)).toEqual({ id: 5, present: true });
      // The owner's connection was closed again: it never lingers for anything else to use.
      const { rows } = await withClient(t.db.superuserUrl, (c) =>
        c.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND usename = $2', [
          t.db.name,
          inject('roles').owner.name,
        ]),
      );
      expect(rows[0].n).toBe(0);
    } finally {
      await t.close();
    }
  });

  it('start-up with neither DATABASE_ADMIN_URL nor DATABASE_OWNER_URL fails with one line naming both', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tenantql-sync-'));
    try {
      await writeFile(join(dir, 'tenants.json'), JSON.stringify(defaultTenants));
      const { code, stdout, stderr } = await runCli(['start'], {
        cwd: dir,
        env: {
          PORT: '0',
          DATABASE_URL: db.appUrl,
          TENANTS_FILE: join(dir, 'tenants.json'),
          JWT_SECRET: TEST_JWT_SECRET,
          SERVICE_JWT_SECRET: TEST_SERVICE_SECRET,
          VALKEY_URL: inject('valkeyUrl'),
          LOG_LEVEL: 'silent',
        },
      });
      expect({ code, stdout }).toEqual({ code: 1, stdout: '' });
      const lines = stderr.trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/DATABASE_ADMIN_URL/);
      expect(lines[0]).toMatch(/DATABASE_OWNER_URL/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
