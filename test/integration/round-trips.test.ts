import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import { TestApp } from '../helpers/app.js';
import { withClient } from '../helpers/db.js';
import { post, resolversTwin } from '../helpers/fastpath.js';

// SQL round trips per request, counted by `t.queries` (every statement, BEGIN and COMMIT
// included): constant in the size of the answer, thanks to per-request DataLoaders on the
// resolvers and to one statement on the fast path (src/fastpath/).
let t: TestApp;
/** The same app with the fast path off (test/helpers/fastpath.ts), and its round trips. */
let resolvers: App;
let resolverTrips = 0;
beforeAll(async () => {
  t = await TestApp.start();
  resolvers = resolversTwin(t, () => resolverTrips++);
  await withClient(t.db.superuserUrl, async (client) => {
    // tenant1 (2): 2 projects × 2 tasks; tenant2 (3): 20 projects × 10 tasks; each task assigned.
    for (const [tenant, projects, tasks] of [
      [2, 2, 2],
      [3, 20, 10],
    ] as const) {
      await client.query(
        `INSERT INTO app.members (tenant_id, name, email)
         SELECT $1::int, 'member ' || n, 'm' || n || '@t' || $1::int || '.test' FROM generate_series(1, 5) n`,
        [tenant],
      );
      await client.query(
        `WITH p AS (
           INSERT INTO app.projects (tenant_id, name)
           SELECT $1::int, 'project ' || n FROM generate_series(1, $2::int) n RETURNING id),
         m AS (SELECT array_agg(id ORDER BY id) AS ids FROM app.members WHERE tenant_id = $1)
         INSERT INTO app.tasks (tenant_id, project_id, title, assignee_id, status)
         SELECT $1::int, p.id, 'task ' || k, m.ids[1 + k % 5], (ARRAY['TODO', 'IN_PROGRESS', 'DONE'])[1 + k % 3]
         FROM p, m, generate_series(1, $3::int) k`,
        [tenant, projects, tasks],
      );
    }
  });
});
afterAll(() => t.close());

const NESTED = `{ projects(first: 20) { edges { node { name
  tasks(first: 10) { edges { node { title status assignee { name } } } } } } } }`;

/** Round trips of one request: on TestApp's app (the fast path on), or on `resolvers` (off). */
async function roundTrips(host: string, query: string, token?: string, on: 'fast' | 'resolvers' = 'fast') {
  const before = t.queries + resolverTrips;
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const res = await post(on === 'fast' ? t.app : resolvers, host, query, { headers });
  const body = JSON.parse(res.body);
  expect(body.errors).toBeUndefined();
  return { trips: t.queries + resolverTrips - before, data: body.data };
}

describe('SQL round trips per request', () => {
  it('{ tenant { name } } and { viewer { kind } } cost none', async () => {
    expect((await roundTrips('tenant1.localhost', '{ tenant { name } }')).trips).toBe(0);
    const token = await t.token(2);
    expect((await roundTrips('tenant1.localhost', '{ tenant { name } viewer { kind } }', token)).trips).toBe(
      0,
    );
  });

  it('the nested query costs 1 on the fast path with 2 projects and with 20 projects × 10 tasks', async () => {
    // BEGIN + settings, the one statement, COMMIT: one string. A connection meeting the statement
    // for the first time prepares it first (one more, once per connection).
    const small = await roundTrips('tenant1.localhost', NESTED, await t.token(2));
    expect(small.data.projects.edges).toHaveLength(2);
    expect(small.data.projects.edges[0].node.tasks.edges).toHaveLength(2);
    expect(small.trips).toBeLessThanOrEqual(2);
    expect((await roundTrips('tenant1.localhost', NESTED, await t.token(2))).trips).toBe(1);

    const large = await roundTrips('tenant2.localhost', NESTED, await t.token(3));
    expect(large.data.projects.edges).toHaveLength(20);
    const tasks = large.data.projects.edges.flatMap((e: any) => e.node.tasks.edges);
    expect(tasks).toHaveLength(200);
    expect(tasks.every((e: any) => e.node.assignee?.name.startsWith('member '))).toBe(true);
    expect(large.trips).toBe(1);
  });

  it('the nested query costs 5 on the resolvers with 2 projects and with 20 projects × 10 tasks', async () => {
    // begin + settings, projects, one tasks batch, one members batch, commit.
    const small = await roundTrips('tenant1.localhost', NESTED, await t.token(2), 'resolvers');
    expect(small.data.projects.edges).toHaveLength(2);
    expect(small.trips).toBe(5);
    const large = await roundTrips('tenant2.localhost', NESTED, await t.token(3), 'resolvers');
    expect(large.data.projects.edges).toHaveLength(20);
    expect(large.trips).toBe(5);
  });

  it('totalCount adds one batched count per level on the resolvers, nothing on the fast path', async () => {
    const query = `{ projects(first: 20) { totalCount edges { node { tasks(first: 10) { totalCount edges { node { title } } } } } } }`;
    const small = await roundTrips('tenant1.localhost', query, await t.token(2), 'resolvers');
    const large = await roundTrips('tenant2.localhost', query, await t.token(3), 'resolvers');
    expect(large.data.projects.totalCount).toBe(20);
    expect(large.data.projects.edges[0].node.tasks.totalCount).toBe(10);
    expect(large.trips).toBe(small.trips);
    expect(large.trips).toBeLessThanOrEqual(6);
    await roundTrips('tenant2.localhost', query, await t.token(3)); // prepares it on a connection
    expect((await roundTrips('tenant2.localhost', query, await t.token(3))).trips).toBeLessThanOrEqual(2);
  });

  it('the write mix (scenario E): createTask and updateTask, as the bench sends them', async () => {
    const token = await t.token(3);
    const page = await roundTrips(
      'tenant2.localhost',
      '{ projects(first: 1) { edges { node { id } } } }',
      token,
    );
    const projectId = page.data.projects.edges[0].node.id;
    const create = (title: string) =>
      roundTrips(
        'tenant2.localhost',
        `mutation { createTask(input: { projectId: "${projectId}", title: "${title}" }) { id title } }`,
        token,
      );
    await create('prepares every statement on a connection');
    // BEGIN + settings + the write fence (one string), the insert, the audit row, COMMIT.
    const created = await create('counted');
    expect(created.data.createTask.title).toBe('counted');
    expect(created.trips).toBe(4);
    const update = () =>
      roundTrips(
        'tenant2.localhost',
        `mutation { updateTask(input: { id: "${created.data.createTask.id}", status: DONE }) { id status } }`,
        token,
      );
    await update();
    const updated = await update();
    expect(updated.data.updateTask.status).toBe('DONE');
    expect(updated.trips).toBe(4);
  });
});
