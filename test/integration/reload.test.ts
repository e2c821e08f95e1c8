import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultTenants, TestApp } from '../helpers/app.js';
import { withClient } from '../helpers/db.js';

// SPEC §4 reload: build the whole next set, swap one reference, keep the old set on any
// problem; the tenants table follows; a request keeps the set it started with.
let t: TestApp;
const tokens: Record<number, string> = {};

const withTenant4 = {
  ...defaultTenants,
  tenants: [...defaultTenants.tenants, { id: 5, subdomain: 'tenant4', name: 'Tenant Four' }],
};
const withoutTenant3 = { ...withTenant4, tenants: withTenant4.tenants.filter((x) => x.id !== 4) };

beforeAll(async () => {
  // One connection, so the in-flight test can hold a request at the pool from outside.
  t = await TestApp.start({ env: { PG_POOL_MAX: '1', PG_POOL_RESERVE: '0' } });
  for (const id of [2, 4, 5]) tokens[id] = await t.token(id);
  await withClient(t.db.superuserUrl, (c) =>
    c.query("INSERT INTO app.projects (tenant_id, name) VALUES (4, 'kept-1'), (4, 'kept-2')"),
  );
});
afterAll(() => t.close());

async function tenantId(host: string): Promise<{ status: number; id?: number; code?: string }> {
  const res = await t.gql(host, '{ tenant { id } }');
  return { status: res.status, id: res.body.data?.tenant?.id, code: res.body.errors?.[0]?.extensions?.code };
}

function tenantRows() {
  return withClient(t.db.superuserUrl, async (c) => {
    const { rows } = await c.query<{ id: number; removed: boolean }>(
      'SELECT id, removed_at IS NOT NULL AS removed FROM app.tenants ORDER BY id',
    );
    return rows;
  });
}

describe('reload', () => {
  it('a valid file swaps: the new tenant answers, and the tenants table follows', async () => {
    expect(await tenantId('tenant4.localhost')).toMatchObject({ status: 404, code: 'TENANT_NOT_FOUND' });
    await t.writeTenants(withTenant4);
    const status = await t.registry.reload();
    expect(status).toMatchObject({ ok: true, tenantCount: 7, problems: [] });
    expect(await tenantId('tenant4.localhost')).toEqual({ status: 200, id: 5, code: undefined });
    expect(await tenantId('tenant1.localhost')).toMatchObject({ status: 200, id: 2 });
    expect(await tenantRows()).toContainEqual({ id: 5, removed: false });
  });

  it.each([
    ['invalid JSON', '{ "baseDomain": "localhost", }'],
    ['an empty (truncated) file', ''],
    ['a half-written file', JSON.stringify(withoutTenant3, null, 2).slice(0, 300)],
    [
      'a file that parses but breaks a rule',
      JSON.stringify({
        ...withoutTenant3,
        tenants: [...withoutTenant3.tenants, { id: 6, subdomain: 'tenant1', name: 'Dup' }],
      }),
    ],
  ])('%s changes nothing', async (_name, content) => {
    const before = t.registry.current;
    const rowsBefore = await tenantRows();
    await t.writeTenants(content);
    const status = await t.registry.reload();
    expect(status.ok).toBe(false);
    expect(status.problems.length).toBeGreaterThan(0);
    expect(t.registry.status.ok).toBe(false);
    expect(t.registry.current).toBe(before);
    // Every old tenant still answers, including the one the bad file would have removed.
    expect(await tenantId('tenant3.localhost')).toMatchObject({ status: 200, id: 4 });
    expect(await tenantId('tenant4.localhost')).toMatchObject({ status: 200, id: 5 });
    expect(await tenantRows()).toEqual(rowsBefore);
  });

  it('a rule problem names its JSON path', async () => {
    await t.writeTenants({
      ...withTenant4,
      tenants: [...withTenant4.tenants, { id: 6, subdomain: 'tenant1', name: 'D' }],
    });
    const status = await t.registry.reload();
    expect(status.problems.join('\n')).toMatch(/tenants\[\d+\]\.subdomain/);
  });

  it('a missing file changes nothing', async () => {
    const before = t.registry.current;
    await rm(t.tenantsFile);
    const status = await t.registry.reload();
    expect(status.ok).toBe(false);
    expect(t.registry.current).toBe(before);
    expect(await tenantId('tenant3.localhost')).toMatchObject({ status: 200, id: 4 });
  });

  it('a removed tenant answers 404 while its rows stay, marked removed', async () => {
    await t.writeTenants(withoutTenant3);
    expect((await t.registry.reload()).ok).toBe(true);
    expect(await tenantId('tenant3.localhost')).toMatchObject({ status: 404, code: 'TENANT_NOT_FOUND' });
    const withToken = await t.gql('tenant3.localhost', '{ projects { totalCount } }', { token: tokens[4] });
    expect(withToken.status).toBe(404);
    const { rows } = await withClient(t.db.superuserUrl, (c) =>
      c.query('SELECT name FROM app.projects WHERE tenant_id = 4 ORDER BY name'),
    );
    expect(rows).toEqual([{ name: 'kept-1' }, { name: 'kept-2' }]);
    const marks = await tenantRows();
    expect(marks).toContainEqual({ id: 4, removed: true });
    expect(marks.filter((r) => r.id !== 4).every((r) => !r.removed)).toBe(true);
  });

  it('a tenant that comes back finds its data', async () => {
    await t.writeTenants(withTenant4);
    expect((await t.registry.reload()).ok).toBe(true);
    const res = await t.gql('tenant3.localhost', '{ projects { totalCount } }', { token: tokens[4] });
    expect(res.body).toEqual({ data: { projects: { totalCount: 2 } } });
    expect(await tenantRows()).toContainEqual({ id: 4, removed: false });
  });

  it('a request in flight finishes on the set it started with', async () => {
    // Hold the pool's only connection: the request resolves its tenant, then waits for it.
    const held = await t.pool.connect();
    let inFlight: ReturnType<TestApp['gql']> | undefined;
    let reloading: ReturnType<TestApp['registry']['reload']> | undefined;
    try {
      inFlight = t.gql('tenant3.localhost', '{ tenant { id name } projects { edges { node { name } } } }', {
        token: tokens[4],
      });
      await until(() => t.pool.waitingCount === 1);

      await t.writeTenants(withoutTenant3);
      reloading = t.registry.reload();
      // The swap happens before the table sync, which itself waits for the pool.
      await until(() => t.registry.current.byId(4) === undefined);
      expect(await tenantId('tenant3.localhost')).toMatchObject({ status: 404, code: 'TENANT_NOT_FOUND' });
    } finally {
      held.release();
    }
    const res = await inFlight!;
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      data: {
        tenant: { id: 4, name: 'Tenant Three' },
        projects: { edges: [{ node: { name: 'kept-1' } }, { node: { name: 'kept-2' } }] },
      },
    });
    expect((await reloading!).ok).toBe(true);
    expect(await tenantId('tenant3.localhost')).toMatchObject({ status: 404 });
  });
});

/** Polls `condition` every 5 ms, for at most 3 s. */
async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 3_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached within 3 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
