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
  it('cannot be written by the runtime role: EXECUTE on app.sync_tenants is refused', async () => {
    await withClient(db.appUrl, async (c) => {
      await expect(c.query("SELECT app.sync_tenants('[]'::jsonb)")).rejects.toEqual(
        expect.objectContaining({ code: '42501' }),
      );
      const { rows } = await c.query(
        "SELECT has_function_privilege('app.sync_tenants(jsonb)', 'EXECUTE') AS may",
      );
      expect(rows[0].may).toBe(false);
    });
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
