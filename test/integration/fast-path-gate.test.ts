import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { TestApp } from '../helpers/app.js';
import { withClient } from '../helpers/db.js';
import { marker, READ, seedMarkers, sleep } from '../helpers/fault-load.js';

/**
 * FAST_PATH_CONCURRENCY (db/scheduler.ts, gateAlone): one-statement reads in PostgreSQL at once,
 * over all tenants, while transactions keep the rest of the pool. A table lock holds the reads
 * in PostgreSQL, so what is running there can be counted instead of timed.
 */
let t: TestApp;
const tokens = new Map<number, string>();
beforeAll(async () => {
  t = await TestApp.start({ env: { PG_POOL_MAX: '4', PG_POOL_RESERVE: '0', FAST_PATH_CONCURRENCY: '1' } });
  for (const id of [2, 3]) tokens.set(id, await t.token(id));
  await seedMarkers(t, [2, 3]);
});
afterAll(() => t.close());

const HOSTS: Record<number, string> = { 2: 'tenant1.localhost', 3: 'tenant2.localhost' };
const read = (tenant: number) => t.gql(HOSTS[tenant]!, READ, { token: tokens.get(tenant) });

/** Runtime-role backends of this database waiting on a lock. */
async function lockWaiters(): Promise<number> {
  const { rows } = await withClient(t.db.superuserUrl, (c) =>
    c.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1 AND datname = $2 AND wait_event_type = 'Lock'",
      [inject('roles').app.name, t.db.name],
    ),
  );
  return rows[0]!.n;
}

describe('FAST_PATH_CONCURRENCY=1 with a pool of 4', () => {
  it('lets one read into PostgreSQL at a time, over all tenants, and never holds a transaction back', async () => {
    const locker = new pg.Client({ connectionString: t.db.superuserUrl });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE app.projects IN ACCESS EXCLUSIVE MODE');
      const answered: number[] = [];
      const reads = [2, 2, 3, 3].map((tenant) =>
        read(tenant).then((res) => {
          answered.push(tenant);
          return { tenant, res };
        }),
      );
      // One read reaches the lock; the three others (both tenants) wait at the gate, not in PostgreSQL.
      const deadline = performance.now() + 5_000;
      while ((await lockWaiters()) < 1 && performance.now() < deadline) await sleep(25);
      await sleep(300);
      expect(await lockWaiters()).toBe(1);
      expect(answered).toEqual([]);
      // A transaction (Query.viewer has a resolver: no fast path) takes a free connection meanwhile.
      const viewer = await t.gql(HOSTS[2]!, '{ viewer { tenantId } }', { token: tokens.get(2) });
      expect(viewer.status).toBe(200);
      expect(viewer.body.data?.viewer).toEqual({ tenantId: 2 });
      expect(answered).toEqual([]);

      await locker.query('COMMIT');
      for (const { tenant, res } of await Promise.all(reads)) {
        expect(res.status).toBe(200);
        expect(res.body.errors).toBeUndefined();
        expect(res.body.data!.tenant.id).toBe(tenant);
        const names = res.body.data!.projects.edges.map((e: { node: { name: string } }) => e.node.name);
        expect(names).toHaveLength(3);
        for (const name of names) expect(name).toContain(marker(tenant));
      }
    } finally {
      await locker.end();
    }
  });
});
