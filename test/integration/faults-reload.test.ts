import { rename, writeFile } from 'node:fs/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type GraphQLResponse, TestApp } from '../helpers/app.js';
import { withClient } from '../helpers/db.js';
import { classify, type Outcome, READ, seedMarkers, sleep, summary } from '../helpers/fault-load.js';

/**
 * Tenant reloads under load (catalogue F2, F3): a reload every 100 ms while 1,000 requests run,
 * and a tenant removed and a host re-mapped while its requests are in flight. Each request
 * keeps the tenant set it started with, so the only acceptable answers are the old tenant's
 * data, the new tenant's data, or a clean 404, never a mix.
 */
const tenantsFile = (tenants: object[]) => ({
  baseDomain: 'localhost',
  defaults: { statementTimeoutMs: 5000, rateLimit: { requests: 100_000, perSeconds: 60 } },
  tenants: [{ id: 1, subdomain: 'admin', name: 'System' }, ...tenants],
});
const CORE = [
  { id: 2, subdomain: 'tenant1', name: 'Tenant One' },
  { id: 3, subdomain: 'tenant2', name: 'Tenant Two' },
  { id: 4, subdomain: 'tenant3', name: 'Tenant Three' },
  { id: 5, subdomain: 'spare', name: 'Spare' },
];
const INITIAL = tenantsFile(CORE);
// Differs from INITIAL only in a tenant no request uses.
const WITH_UNRELATED = tenantsFile([...CORE, { id: 6, subdomain: 'unrelated', name: 'Unrelated' }]);
// tenant2.localhost now serves id 5; tenant3.localhost (id 4) is gone.
const REMAPPED = tenantsFile([
  { id: 2, subdomain: 'tenant1', name: 'Tenant One' },
  { id: 5, subdomain: 'tenant2', name: 'Tenant Two, re-mapped' },
]);
const HOSTS: Record<number, string> = {
  2: 'tenant1.localhost',
  3: 'tenant2.localhost',
  4: 'tenant3.localhost',
};

let t: TestApp;
const tokens = new Map<number, string>();
beforeAll(async () => {
  t = await TestApp.start({ tenants: INITIAL, env: { PG_POOL_MAX: '16' } });
  for (const id of [2, 3, 4, 5]) tokens.set(id, await t.token(id));
  await seedMarkers(t, [2, 3, 4, 5]);
});
afterAll(() => t.close());

/** As an operator should: write aside, then rename over the file (atomic). */
async function install(content: object): Promise<void> {
  await writeFile(`${t.tenantsFile}.tmp`, JSON.stringify(content));
  await rename(`${t.tenantsFile}.tmp`, t.tenantsFile);
}

const read = (host: string, tenant: number) => t.gql(host, READ, { token: tokens.get(tenant) });

describe('reloads while requests run', () => {
  it('a reload every 100 ms during 1,000 requests: zero failures, zero wrong-tenant answers', async () => {
    let done = false;
    let swaps = 0;
    const rejected: unknown[] = [];
    const storm = (async () => {
      for (let i = 0; !done; i++) {
        await install(i % 2 === 0 ? WITH_UNRELATED : INITIAL);
        const before = t.registry.current;
        const status = await t.registry.reload();
        if (!status.ok) rejected.push(status.problems);
        if (t.registry.current !== before) swaps++;
        await sleep(100);
      }
    })();
    const outcomes: Outcome[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (next < 1_000) {
          const tenant = [2, 3, 4][next++ % 3]!;
          const started = performance.now();
          outcomes.push(classify(await read(HOSTS[tenant]!, tenant), tenant, started));
          await sleep(15);
        }
      }),
    );
    done = true;
    await storm;
    expect(outcomes).toHaveLength(1_000);
    expect(
      outcomes.filter((o) => o.kind !== 'ok'),
      summary(outcomes),
    ).toEqual([]);
    expect(rejected).toEqual([]);
    expect(swaps, 'the tenant set really changed under the requests').toBeGreaterThanOrEqual(8);
    console.info(`faults: ${swaps} tenant-set swaps during 1,000 requests: ${summary(outcomes)}`);
  });

  it('a tenant removed and a host re-mapped mid-request: old requests finish on their snapshot, new ones see only the new mapping', async () => {
    await install(INITIAL);
    expect((await t.registry.reload()).ok).toBe(true);
    // Hold every read of app.projects, so requests that already began their transaction wait in flight.
    const locker = new pg.Client({ connectionString: t.db.superuserUrl });
    await locker.connect();
    await locker.query('BEGIN; LOCK TABLE app.projects IN ACCESS EXCLUSIVE MODE');
    try {
      const oldRemapped = Array.from({ length: 3 }, () => read('tenant2.localhost', 3));
      const oldRemoved = Array.from({ length: 3 }, () => read('tenant3.localhost', 4));
      await waitForLockWaiters(6);

      await install(REMAPPED);
      expect((await t.registry.reload()).ok).toBe(true);
      const removed = await read('tenant3.localhost', 4);
      expect([removed.status, removed.body.errors?.[0]?.extensions?.code]).toEqual([404, 'TENANT_NOT_FOUND']);
      // A token for the old id is another tenant's token on the re-mapped host.
      const stale = await read('tenant2.localhost', 3);
      expect([stale.status, stale.body.errors?.[0]?.extensions?.code, stale.body.data ?? null]).toEqual([
        403,
        'TENANT_MISMATCH',
        null,
      ]);
      const fresh = Array.from({ length: 3 }, () => read('tenant2.localhost', 5));
      await waitForLockWaiters(9);

      await locker.query('COMMIT');
      expectOnly(await Promise.all(oldRemapped), 3);
      expectOnly(await Promise.all(oldRemoved), 4);
      expectOnly(await Promise.all(fresh), 5);
    } finally {
      await locker.end();
    }
  });
});

/** Each response: tenant `id`, its three marker rows and nothing else. */
function expectOnly(responses: GraphQLResponse[], id: number): void {
  for (const res of responses) {
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data!.tenant.id).toBe(id);
    const names = res.body.data!.projects.edges.map((e: { node: { name: string } }) => e.node.name as string);
    expect(names).toHaveLength(3);
    for (const name of names) expect(name).toContain(`~t${id}~`);
  }
}

/** Until `n` runtime-role backends of this database wait on a lock (bounded: 5 s). */
async function waitForLockWaiters(n: number): Promise<void> {
  const deadline = performance.now() + 5_000;
  for (;;) {
    const { rows } = await withClient(t.db.superuserUrl, (c) =>
      c.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1 AND datname = $2 AND wait_event_type = 'Lock'",
        [inject('roles').app.name, t.db.name],
      ),
    );
    if (rows[0]!.n >= n) return;
    if (performance.now() > deadline)
      throw new Error(`only ${rows[0]!.n} of ${n} requests reached the database`);
    await sleep(25);
  }
}
