import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import { RequestTransaction, type TenantSettings } from '../../src/db/request-transaction.js';
import type { FastPathOutcome } from '../../src/fastpath/index.js';
import { parseGlobalId } from '../../src/graphql/ids.js';
import { silentLogger } from '../../src/observability/logger.js';
import { TestApp } from '../helpers/app.js';
import { withClient } from '../helpers/db.js';
import { observedTwin, post, resolversTwin, seedVariety } from '../helpers/fastpath.js';
import { handWritten } from '../helpers/fastpath-corpus.js';

// What the fast path must keep exactly as the resolvers have it: row security and the
// transaction's settings, its round trips, and the resolvers' answer whenever a value is one
// the statement cannot write (it declines, and they answer).
let t: TestApp;
let fast: App;
let slow: App;
const outcomes: FastPathOutcome[] = [];
let fastTrips = 0;
let slowTrips = 0;
const auth = async (tenantId: number) => ({ authorization: `Bearer ${await t.token(tenantId)}` });

beforeAll(async () => {
  t = await TestApp.start();
  await seedVariety(() => t.db.superuserUrl);
  fast = observedTwin(
    t,
    (outcome) => outcomes.push(outcome),
    () => fastTrips++,
  );
  slow = resolversTwin(t, () => slowTrips++);
});
afterAll(() => t.close());

const NESTED = `{ projects(first: 25) { edges { node { id name tasks(first: 12) { edges { node { id title
  project { id } assignee { name } } } } } } } }`;

describe('row security', () => {
  it("the fast path sees the host tenant's rows, all of them, and no other's", async () => {
    for (const [tenantId, host] of [
      [2, 'tenant1.localhost'],
      [3, 'tenant2.localhost'],
    ] as const) {
      outcomes.length = 0;
      const res = await post(fast, host, NESTED, { headers: await auth(tenantId) });
      expect(outcomes, res.body.slice(0, 300)).toEqual(['answered']);
      const body = JSON.parse(res.body);
      const ids = [...res.body.matchAll(/"id":"([^"]+)"/g)].map((m) => parseGlobalId(m[1]!)!);
      expect(ids.length).toBeGreaterThan(10);
      expect(new Set(ids.map((id) => id.tenantId))).toEqual(new Set([tenantId]));
      const expected = await withClient(t.db.superuserUrl, async (c) => ({
        projects: (await c.query('SELECT id FROM app.projects WHERE tenant_id = $1 ORDER BY id', [tenantId]))
          .rows,
        tasks: (await c.query('SELECT count(*)::int AS n FROM app.tasks WHERE tenant_id = $1', [tenantId]))
          .rows[0].n,
      }));
      const projects = body.data.projects.edges.map(
        (e: { node: { id: string } }) => parseGlobalId(e.node.id)!.id,
      );
      expect(projects).toEqual(expected.projects.map((r: { id: string }) => r.id));
      const tasks = body.data.projects.edges.flatMap(
        (e: { node: { tasks: { edges: unknown[] } } }) => e.node.tasks.edges,
      );
      expect(tasks).toHaveLength(expected.tasks);
    }
  });
});

describe('the transaction', () => {
  const settings: TenantSettings = {
    tenantId: 3,
    userId: "o'brien",
    actorTenantId: 81,
    statementTimeoutMs: 1234,
  };
  const SETTINGS = `SELECT current_setting('app.tenant_id') AS tenant, current_setting('app.user_id') AS user,
    current_setting('app.actor_tenant_id') AS actor, current_setting('statement_timeout') AS timeout,
    current_setting('transaction_read_only') AS read_only, current_setting('transaction_isolation') AS isolation`;

  it('runAlone runs with the same settings as every other request transaction, READ ONLY', async () => {
    const usual = new RequestTransaction(t.pool, settings, silentLogger);
    const [expected] = await usual.query({ text: SETTINGS });
    await usual.finish(true);
    for (const name of [undefined, 'tq_settings_probe']) {
      const alone = new RequestTransaction(t.pool, settings, silentLogger);
      const [got] = await alone.runAlone({ text: SETTINGS, params: [], types: [], name }, () => false);
      expect(got).toEqual(expected);
      expect(got).toMatchObject({
        tenant: '3',
        user: "o'brien",
        actor: '81',
        timeout: '1234ms',
        read_only: 'on',
      });
      await expect(alone.query({ text: 'SELECT 1' })).rejects.toThrow(/finished/);
    }
    // Nothing stays on the connection: the settings were transaction-local.
    const after = await t.pool.query(
      SETTINGS.replace(/current_setting\('([^']+)'\)/g, "current_setting('$1', true)"),
    );
    expect(after.rows[0]).toMatchObject({ tenant: '', user: '', actor: '' });
  });

  it("the tenant's statement timeout ends the statement: TIMEOUT", async () => {
    const alone = new RequestTransaction(t.pool, { ...settings, statementTimeoutMs: 50 }, silentLogger);
    await expect(
      alone.runAlone({ text: 'SELECT pg_sleep(1)::text AS body', params: [], types: [] }, () => false),
    ).rejects.toMatchObject({ extensions: { code: 'TIMEOUT' } });
  });

  it('a statement declined by `retry` leaves the transaction as if it never began', async () => {
    const tx = new RequestTransaction(t.pool, settings, silentLogger);
    await expect(
      tx.runAlone({ text: 'SELECT 1/0 AS body', params: [], types: [] }, () => true),
    ).rejects.toThrow(/division by zero/);
    expect(tx.started).toBe(false);
    const [row] = await tx.query<{ tenant: string }>({ text: SETTINGS });
    expect(row).toMatchObject({ tenant: '3', read_only: 'on' });
    await tx.finish(true);
  });

  it('the nested read is one round trip (two the first time a connection meets it); five on the resolvers', async () => {
    const query =
      '{ projects(first: 20) { edges { node { name tasks(first: 10) { edges { node { title status assignee { name } } } } } } } }';
    const headers = await auth(3);
    const trips: number[] = [];
    for (let i = 0; i < 3; i++) {
      const before = fastTrips;
      await post(fast, 'tenant2.localhost', query, { headers });
      trips.push(fastTrips - before);
    }
    expect(trips.every((n) => n === 1 || n === 2)).toBe(true);
    expect(trips.at(-1)).toBe(1);
    const before = slowTrips;
    await post(slow, 'tenant2.localhost', query, { headers });
    expect(slowTrips - before).toBe(5);
  });
});

describe('values the statement cannot write: the resolvers answer', () => {
  it.each([
    ['a timestamp before the year 1000', "timestamptz '0999-12-31 00:00:00+00'"],
    ['an infinite timestamp', "'infinity'::timestamptz"],
  ])('%s', async (_name, value) => {
    await withClient(t.db.superuserUrl, (c) =>
      c.query(`UPDATE app.projects SET created_at = ${value} WHERE tenant_id = 4`),
    );
    const query = '{ projects { edges { node { name createdAt } } } }';
    outcomes.length = 0;
    const fastAnswer = await post(fast, 'tenant3.localhost', query, { headers: await auth(4) });
    expect(outcomes).toEqual(['declined']);
    const reference = await post(slow, 'tenant3.localhost', query, { headers: await auth(4) });
    expect(fastAnswer).toEqual(reference);
    // The next request on the same connections is answered as usual.
    outcomes.length = 0;
    const next = await post(fast, 'tenant3.localhost', '{ projects { totalCount } }', {
      headers: await auth(4),
    });
    expect(outcomes).toEqual(['answered']);
    expect(next.body).toBe('{"data":{"projects":{"totalCount":1}}}');
  });
});

describe('PG_PREPARED_STATEMENTS=0 (statements with literals, planned each time)', () => {
  let unnamed: TestApp;
  beforeAll(async () => {
    unnamed = await TestApp.start({ env: { PG_PREPARED_STATEMENTS: '0' } });
    await seedVariety(() => unnamed.db.superuserUrl);
  });
  afterAll(() => unnamed.close());

  it('answers the hand-written corpus as the resolvers do', async () => {
    const seen: FastPathOutcome[] = [];
    const on = observedTwin(unnamed, (o) => seen.push(o));
    const off = resolversTwin(unnamed);
    const ids = await withClient(unnamed.db.superuserUrl, async (c) => {
      const col = async (sql: string, tenant: number) =>
        (await c.query(sql, [tenant])).rows.map((r) => String(r.id));
      return {
        tenantId: 2,
        otherTenantId: 3,
        projects: await col('SELECT id FROM app.projects WHERE tenant_id = $1 ORDER BY id', 2),
        tasks: await col(
          'SELECT id FROM app.tasks WHERE tenant_id = $1 AND assignee_id IS NOT NULL ORDER BY id',
          2,
        ),
        unassignedTask: (
          await col('SELECT id FROM app.tasks WHERE tenant_id = $1 AND assignee_id IS NULL', 2)
        )[0]!,
        members: await col('SELECT id FROM app.members WHERE tenant_id = $1 ORDER BY id', 2),
        otherProject: (await col('SELECT id FROM app.projects WHERE tenant_id = $1', 3))[0]!,
      };
    });
    const headers = { authorization: `Bearer ${await unnamed.token(2)}` };
    for (const c of handWritten(ids).filter((c) => !c.who)) {
      const options = { headers, variables: c.variables, operationName: c.operationName };
      expect(await post(on, 'tenant1.localhost', c.query, options), c.name).toEqual(
        await post(off, 'tenant1.localhost', c.query, options),
      );
    }
    expect(seen.filter((o) => o === 'answered').length).toBeGreaterThan(20);
    expect(seen).not.toContain('refused');
  });
});
