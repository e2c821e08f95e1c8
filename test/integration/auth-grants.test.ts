import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultTenants, TestApp } from '../helpers/app.js';

// SPEC §6: a virtual tenant's service token acts on its own host and on the hosts its grants
// cover, elsewhere 403 FORBIDDEN; the grants are re-read on every reload.
const base = defaultTenants.tenants.filter((t) => t.id !== 81);
const regular = [
  { id: 2, host: 'tenant1.localhost' },
  { id: 3, host: 'tenant2.localhost' },
  { id: 4, host: 'tenant3.localhost' },
];
const virtualHosts: Record<number, string> = {
  81: 'reports.localhost',
  82: 'billing.localhost',
  83: 'audit.localhost',
};
const HOSTS = [
  { id: 1, host: 'admin.localhost' },
  ...regular,
  ...Object.entries(virtualHosts).map(([id, host]) => ({ id: Number(id), host })),
];

type Grants = Record<81 | 82 | 83, number[] | '*'>;
const tenantsWith = (grants: Grants) => ({
  ...defaultTenants,
  tenants: [
    ...base,
    { id: 81, subdomain: 'reports', name: 'Reports', grants: grants[81] },
    { id: 82, subdomain: 'billing', name: 'Billing', grants: grants[82] },
    { id: 83, subdomain: 'audit', name: 'Audit', grants: grants[83] },
  ],
});
const BEFORE: Grants = { 81: [2, 3], 82: '*', 83: [] };
const AFTER: Grants = { 81: [4], 82: [2], 83: '*' };

/** Written out rather than derived, so a wrong rule in the server cannot also be in the test. */
const allowedBefore: Record<number, number[]> = { 81: [81, 2, 3], 82: [82, 2, 3, 4], 83: [83] };
const allowedAfter: Record<number, number[]> = { 81: [81, 4], 82: [82, 2], 83: [83, 2, 3, 4] };

let t: TestApp;
beforeAll(async () => {
  t = await TestApp.start({ tenants: tenantsWith(BEFORE) });
});
afterAll(() => t.close());

async function matrix(allowed: Record<number, number[]>) {
  for (const virtualId of [81, 82, 83]) {
    const token = await t.serviceToken(virtualId);
    for (const { id, host } of HOSTS) {
      const res = await t.gql(host, '{ viewer { kind tenantId actorTenantId } }', { token });
      const cell = `${virtualId} on ${host}`;
      if (allowed[virtualId]!.includes(id)) {
        expect({ cell, status: res.status, body: res.body }).toEqual({
          cell,
          status: 200,
          body: { data: { viewer: { kind: 'SERVICE', tenantId: id, actorTenantId: virtualId } } },
        });
      } else {
        expect({
          cell,
          status: res.status,
          code: res.body.errors?.[0]?.extensions?.code,
          data: res.body.data,
        }).toEqual({
          cell,
          status: 403,
          code: 'FORBIDDEN',
          data: undefined,
        });
      }
    }
  }
}

describe('grants matrix: each virtual tenant × each host', () => {
  it('before a reload', async () => {
    await matrix(allowedBefore);
  });

  it('after a reload that changes every grant', async () => {
    await t.writeTenants(tenantsWith(AFTER));
    expect((await t.registry.reload()).ok).toBe(true);
    await matrix(allowedAfter);
  });

  it('a virtual tenant removed by a reload: its tokens are 401 everywhere, even on granted hosts', async () => {
    const token = await t.serviceToken(83);
    await t.writeTenants({
      ...tenantsWith(AFTER),
      tenants: tenantsWith(AFTER).tenants.filter((x) => x.id !== 83),
    });
    expect((await t.registry.reload()).ok).toBe(true);
    for (const host of ['tenant1.localhost', 'tenant3.localhost']) {
      const res = await t.gql(host, '{ viewer { kind } }', { token });
      expect({ status: res.status, code: res.body.errors?.[0]?.extensions?.code }).toEqual({
        status: 401,
        code: 'UNAUTHENTICATED',
      });
    }
    await t.writeTenants(tenantsWith(AFTER));
    await t.registry.reload();
  });
});

describe('virtual hosts', () => {
  it('take only their own service tokens: no user token, no other service', async () => {
    const host = 'reports.localhost';
    for (const token of [await t.token(2), await t.token(81)]) {
      const res = await t.gql(host, '{ viewer { kind } }', { token });
      expect(res.status).toBeGreaterThanOrEqual(401);
      expect(['FORBIDDEN', 'UNAUTHENTICATED']).toContain(res.body.errors?.[0]?.extensions?.code);
    }
    // A user token of a regular tenant on a virtual host: the host is not its tenant's.
    const user = await t.gql(host, '{ viewer { kind } }', { token: await t.token(2) });
    expect({ status: user.status, code: user.body.errors?.[0]?.extensions?.code }).toEqual({
      status: 403,
      code: 'FORBIDDEN',
    });
  });

  it("scope a service's writes to the tenant whose host it called, and its own host to itself", async () => {
    const token = await t.serviceToken(81); // AFTER: granted tenant 4
    const create = (host: string, name: string) =>
      t.gql(host, 'mutation($n: String!) { createProject(input: { name: $n }) { id } }', {
        token,
        variables: { n: name },
      });
    expect((await create('tenant3.localhost', 'made-by-81-in-4')).body.errors).toBeUndefined();
    expect((await create('reports.localhost', 'made-by-81-in-81')).body.errors).toBeUndefined();

    const names = async (host: string, tok: string) =>
      (
        await t.gql(host, '{ projects { edges { node { name } } } }', { token: tok })
      ).body.data!.projects.edges.map((e: any) => e.node.name);
    expect(await names('tenant3.localhost', await t.token(4))).toEqual(['made-by-81-in-4']);
    expect(await names('reports.localhost', token)).toEqual(['made-by-81-in-81']);
    expect(await names('tenant1.localhost', await t.token(2))).toEqual([]);
  });
});
