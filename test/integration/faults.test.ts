import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { TestApp } from '../helpers/app.js';
import { withClient } from '../helpers/db.js';
import {
  classify,
  createProject,
  hammer,
  marker,
  type Outcome,
  READ,
  seedMarkers,
  sleep,
  summary,
} from '../helpers/fault-load.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

/**
 * PostgreSQL faults against a running app (catalogue F4): the database cut off mid-load (a TCP
 * proxy between app and the shared test PostgreSQL refuses and resets everything for ~1 s),
 * and the runtime role's backends killed mid-load. No response ever carries another tenant's
 * marker or id, failures are masked, nothing crashes (an uncaught error fails the run), and
 * the pool recovers without a restart. Reloads: faults-reload.test.ts; Valkey: faults-valkey.test.ts.
 */
const HOSTS: Record<number, string> = { 2: 'tenant1.localhost', 3: 'tenant2.localhost' };
const tokens = new Map<number, string>();

async function read(t: TestApp, tenant: number, host = HOSTS[tenant]!): Promise<Outcome> {
  const started = performance.now();
  return classify(await t.gql(host, READ, { token: tokens.get(tenant) }), tenant, started);
}

/** A write whose success the test remembers, to check it landed in the right tenant. */
async function write(t: TestApp, tenant: number, name: string, acked: Map<string, number>): Promise<Outcome> {
  const outcome = await createProject(t, HOSTS[tenant]!, tenant, tokens.get(tenant), name);
  if (outcome.kind === 'ok') acked.set(name, tenant);
  return outcome;
}

describe('PostgreSQL goes away mid-load', () => {
  let proxy: TcpProxy;
  let t: TestApp;
  beforeAll(async () => {
    const pg = new URL(inject('superuserUrl'));
    proxy = await TcpProxy.start({ host: pg.hostname, port: Number(pg.port || 5432) });
    t = await TestApp.start({ poolUrl: (url) => proxy.url(url), env: { PG_POOL_MAX: '6' } });
    for (const id of [2, 3]) tokens.set(id, await t.token(id));
    await seedMarkers(t, [2, 3]);
  });
  afterAll(async () => {
    proxy.mode = 'forward';
    await t.close();
    await proxy.close();
  });

  /** 6 workers alternate reads and writes on tenants 2 and 3 while `fault` runs; then 20 serial reads. */
  async function underLoad(fault: () => Promise<void>) {
    const acked = new Map<string, number>();
    let stop = false;
    const load = hammer(
      6,
      () => stop,
      (w, i) => {
        const tenant = w % 2 === 0 ? 2 : 3;
        return i % 3 === 2
          ? write(t, tenant, `load ${w}-${i}-${Date.now()} ${marker(tenant)}`, acked)
          : read(t, tenant);
      },
    );
    await sleep(300);
    await fault();
    await sleep(700);
    stop = true;
    const outcomes = await load;
    // The pool recovers by itself: the same app serves again, at once or after a short retry.
    const after: Outcome[] = [];
    for (let i = 0; i < 20; i++) after.push(await read(t, i % 2 === 0 ? 2 : 3));
    // Every acknowledged write is there, in its own tenant.
    const rows = await withClient(t.db.superuserUrl, (c) =>
      c.query<{ name: string; tenant_id: number }>(
        'SELECT name, tenant_id FROM app.projects WHERE name = ANY($1)',
        [[...acked.keys()]],
      ),
    );
    expect(new Map(rows.rows.map((r) => [r.name, r.tenant_id]))).toEqual(acked);
    return { outcomes, after };
  }

  it('cut for ~1 s: masked failures, no foreign data, no crash, recovery without restart', async () => {
    const { outcomes, after } = await underLoad(async () => {
      proxy.mode = 'refuse';
      await sleep(1_000);
      proxy.mode = 'forward';
    });
    const text = summary(outcomes);
    expect(
      outcomes.filter((o) => o.kind === 'violation'),
      text,
    ).toEqual([]);
    expect(outcomes.filter((o) => o.kind === 'failed').length, `the cut was felt: ${text}`).toBeGreaterThan(
      0,
    );
    expect(outcomes.filter((o) => o.kind === 'ok').length, text).toBeGreaterThan(0);
    expect(Math.max(...outcomes.map((o) => o.ms)), 'no request hangs').toBeLessThan(6_000);
    expect(after.map((o) => o.kind)).toEqual(Array(20).fill('ok'));
    console.info(`faults: PostgreSQL cut: ${text}`);
  });

  it("pg_terminate_backend of the runtime role's backends mid-load: the same", async () => {
    let killed = 0;
    const { outcomes, after } = await underLoad(async () => {
      for (let round = 0; round < 3; round++) {
        const { rows } = await withClient(t.db.superuserUrl, (c) =>
          c.query<{ n: number }>(
            'SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE usename = $1 AND datname = $2',
            [inject('roles').app.name, t.db.name],
          ),
        );
        killed += rows[0]!.n;
        await sleep(150);
      }
    });
    const text = summary(outcomes);
    expect(killed, 'backends were terminated').toBeGreaterThan(0);
    expect(
      outcomes.filter((o) => o.kind === 'violation'),
      text,
    ).toEqual([]);
    expect(after.map((o) => o.kind)).toEqual(Array(20).fill('ok'));
    console.info(`faults: ${killed} backends terminated: ${text}`);
  });
});
