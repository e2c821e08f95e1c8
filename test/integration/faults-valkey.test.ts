import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestApp } from '../helpers/app.js';
import {
  classify,
  createProject,
  marker,
  type Outcome,
  seedMarkers,
  sleep,
  summary,
} from '../helpers/fault-load.js';
import { OwnServer } from '../helpers/valkey.js';

/**
 * Valkey paused rather than killed (catalogue E6c): `CLIENT PAUSE 3000` on a server of this
 * test's own. A paused server accepts connections and commands and answers nothing, the case
 * an offline queue or missing timeout turns into hung requests. Every request during the pause
 * must finish within its bound and succeed from PostgreSQL, and after the pause no response
 * cached before it may hide a write made during it.
 */
const PAUSE_MS = 3_000;
const BOUND_MS = 750;
const HOSTS: Record<number, string> = { 2: 'tenant1.localhost', 3: 'tenant2.localhost' };
// One page holds every row this test makes (3 markers + at most MAX_WRITES).
const READ = '{ tenant { id } projects(first: 100) { edges { node { name } } } }';
const MAX_WRITES = 90;

let server: OwnServer;
let control: Redis;
let t: TestApp;
const tokens = new Map<number, string>();
beforeAll(async () => {
  server = await OwnServer.start();
  control = new Redis(server.url, { lazyConnect: true });
  await control.connect();
  t = await TestApp.start({ valkeyUrl: server.url });
  for (const id of [2, 3]) tokens.set(id, await t.token(id));
  await seedMarkers(t, [2, 3]);
});
afterAll(async () => {
  control.disconnect();
  await t.close();
  await server.stop();
});

async function read(tenant: number): Promise<Outcome & { names: string[] }> {
  const started = performance.now();
  const res = await t.gql(HOSTS[tenant]!, READ, { token: tokens.get(tenant) });
  const names = (res.body.data?.projects?.edges ?? []).map((e: { node: { name: string } }) => e.node.name);
  return { ...classify(res, tenant, started), names };
}

function create(tenant: number, name: string): Promise<Outcome> {
  return createProject(t, HOSTS[tenant]!, tenant, tokens.get(tenant), name);
}

describe('Valkey paused', () => {
  it('CLIENT PAUSE: requests finish within their bound from PostgreSQL, and nothing stale is served after', async () => {
    // Warm the response cache of both tenants.
    for (const tenant of [2, 3]) for (let i = 0; i < 3; i++) expect((await read(tenant)).kind).toBe('ok');
    expect(t.valkey?.state()).toBe('ready');

    await control.call('CLIENT', 'PAUSE', String(PAUSE_MS), 'ALL');
    const pausedUntil = performance.now() + PAUSE_MS;
    const outcomes: Outcome[] = [];
    const written: string[] = [];
    // Sequential and concurrent traffic until shortly before the pause ends.
    for (let i = 0; performance.now() < pausedUntil - 500; i++) {
      const name = `during pause ${i} ${marker(2)}`;
      const write = i < MAX_WRITES ? [create(2, name)] : [];
      const batch = await Promise.all([...write, read(2), read(3), read(2)]);
      if (write.length && batch[0]!.kind === 'ok') written.push(name);
      outcomes.push(...batch);
    }
    const text = summary(outcomes);
    expect(
      outcomes.filter((o) => o.kind !== 'ok'),
      text,
    ).toEqual([]);
    const slowest = Math.max(...outcomes.map((o) => o.ms));
    expect(slowest, 'no request hangs on the paused Valkey').toBeLessThan(BOUND_MS);
    expect(written.length).toBeGreaterThan(0);

    await sleep(Math.max(0, pausedUntil - performance.now()) + 300);
    // Back: every write made during the pause is visible, however the cache was left.
    for (let i = 0; i < 3; i++) {
      const after = await read(2);
      expect(after.kind).toBe('ok');
      for (const name of written) expect(after.names).toContain(name);
    }
    console.info(
      `faults: Valkey paused ${PAUSE_MS} ms: ${outcomes.length} requests, slowest ${slowest.toFixed(0)} ms: ${text}`,
    );
  });
});
