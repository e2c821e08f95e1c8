import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestApp } from '../helpers/app.js';
import { withClient } from '../helpers/db.js';

// SPEC §5: transaction-local settings on a pooled connection. With one connection in the pool,
// every request reuses the one before it, so anything that leaked would show.
let t: TestApp;
let token2: string;
let token3: string;
let token4: string;

beforeAll(async () => {
  t = await TestApp.start({ env: { PG_POOL_MAX: '1', PG_POOL_RESERVE: '0' } });
  [token2, token3, token4] = await Promise.all([t.token(2), t.token(3), t.token(4)]);
});
afterAll(() => t.close());

/** The session state a borrower of the pool's one connection sees, outside any transaction. */
async function sessionState() {
  const { rows } = await t.pool.query<{
    tenant: string | null;
    user_id: string | null;
    actor: string | null;
    timeout: string;
    in_tx: boolean;
    visible: number;
  }>(`SELECT current_setting('app.tenant_id', true) AS tenant,
             current_setting('app.user_id', true) AS user_id,
             current_setting('app.actor_tenant_id', true) AS actor,
             current_setting('statement_timeout') AS timeout,
             now() <> statement_timestamp() AS in_tx,
             (SELECT count(*)::int FROM app.projects) + (SELECT count(*)::int FROM app.members) AS visible`);
  return rows[0]!;
}

async function expectCleanSession(): Promise<void> {
  expect(t.pool.totalCount).toBe(1);
  const state = await sessionState();
  // '' (not NULL) once a transaction-local set_config ran on this connection: both mean unset.
  expect(state.tenant ?? '').toBe('');
  expect(state.user_id ?? '').toBe('');
  expect(state.actor ?? '').toBe('');
  expect(state.timeout).toBe('0');
  expect(state.in_tx).toBe(false);
  // Unset tenant = fail closed: the runtime role sees no tenant row at all.
  expect(state.visible).toBe(0);
}

/** Sessions of the runtime role in this test's database left inside a transaction. */
async function idleInTransaction(): Promise<number> {
  return withClient(t.db.superuserUrl, async (client) => {
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
       WHERE datname = current_database() AND usename = $1 AND state LIKE 'idle in transaction%'`,
      [appRole()],
    );
    return rows[0]!.n;
  });
}

function appRole(): string {
  return new URL(t.db.appUrl).username;
}

describe('a pool of one connection', () => {
  it('a request that fails mid-transaction leaves no trace for the next tenant', async () => {
    const member = 'mutation($e: String!) { createMember(input: { name: "M", email: $e }) { id } }';
    const first = await t.gql('tenant1.localhost', member, { token: token2, variables: { e: 'm@t1.test' } });
    expect(first.body.errors).toBeUndefined();

    // Writes a project, then fails on the duplicate email: the transaction is aborted mid-way.
    const failing = await t.gql(
      'tenant1.localhost',
      `mutation { p: createProject(input: { name: "half-written" }) { id }
                  m: createMember(input: { name: "again", email: "M@t1.test" }) { id } }`,
      { token: token2 },
    );
    expect(failing.body.errors?.map((e) => e.extensions?.code)).toEqual(['BAD_USER_INPUT']);

    // The next request, for another tenant, on the same connection.
    const other = await t.gql(
      'tenant2.localhost',
      '{ viewer { tenantId subject } projects { totalCount edges { node { name } } } members { totalCount } }',
      { token: token3 },
    );
    expect(other.body).toEqual({
      data: {
        viewer: { tenantId: 3, subject: 'user-3' },
        projects: { totalCount: 0, edges: [] },
        members: { totalCount: 0 },
      },
    });
    // Nor did the first tenant keep its half-written project.
    const own = await t.gql('tenant1.localhost', '{ projects { totalCount } members { totalCount } }', {
      token: token2,
    });
    expect(own.body).toEqual({ data: { projects: { totalCount: 0 }, members: { totalCount: 1 } } });
    await expectCleanSession();
  });

  it('a statement that hits the tenant’s statement_timeout answers TIMEOUT and frees the connection', async () => {
    const created = await t.gql(
      'tenant2.localhost',
      'mutation { createProject(input: { name: "locked" }) { id } }',
      {
        token: token3,
      },
    );
    const id = created.body.data!.createProject.id;
    // Hold the row from outside; tenant2's statementTimeoutMs is 1000, so the update gives up.
    await withClient(t.db.superuserUrl, async (locker) => {
      await locker.query('BEGIN');
      await locker.query("SELECT 1 FROM app.projects WHERE tenant_id = 3 AND name = 'locked' FOR UPDATE");
      const started = performance.now();
      const res = await t.gql(
        'tenant2.localhost',
        'mutation($id: ID!) { updateProject(input: { id: $id, name: "changed" }) { name } }',
        { token: token3, variables: { id } },
      );
      const elapsed = performance.now() - started;
      await locker.query('ROLLBACK');
      expect(res.body.errors?.map((e) => e.extensions?.code)).toEqual(['TIMEOUT']);
      expect(JSON.stringify(res.body)).not.toMatch(/canceling statement|statement timeout|57014/i);
      expect(elapsed).toBeGreaterThan(900);
      expect(elapsed).toBeLessThan(4_000);
    });
    await expectCleanSession();
    const { rows } = await withClient(t.db.superuserUrl, (c) =>
      c.query("SELECT name FROM app.projects WHERE tenant_id = 3 AND name IN ('locked', 'changed')"),
    );
    expect(rows).toEqual([{ name: 'locked' }]);
    const next = await t.gql('tenant3.localhost', '{ projects { totalCount } }', { token: token4 });
    expect(next.body).toEqual({ data: { projects: { totalCount: 0 } } });
  });

  it('after many requests, no session is left idle in transaction and no setting survives', async () => {
    for (let i = 0; i < 10; i++) {
      const host = i % 2 ? 'tenant1.localhost' : 'tenant3.localhost';
      const token = i % 2 ? token2 : token4;
      const res = await t.gql(host, '{ projects { totalCount } members { totalCount } }', { token });
      expect(res.status).toBe(200);
    }
    // A request whose resolver errors after the transaction began.
    await t.gql('tenant1.localhost', '{ members { totalCount } projects(first: 1000) { totalCount } }', {
      token: token2,
    });
    expect(await idleInTransaction()).toBe(0);
    await expectCleanSession();
  });

  it('parallel resolvers never hand the connection a second statement while one runs', async () => {
    // pg would queue it, but that queue is deprecated (gone in pg@9), and a statement queued
    // behind a failed one could only fail with "current transaction is aborted".
    let running = 0;
    let most = 0;
    const wrapped = new WeakSet<object>();
    const watch = (client: import('pg').PoolClient) => {
      if (wrapped.has(client)) return;
      wrapped.add(client);
      const query = client.query.bind(client) as (...args: unknown[]) => Promise<unknown>;
      (client as { query: unknown }).query = async (...args: unknown[]) => {
        most = Math.max(most, ++running);
        try {
          return await query(...args);
        } finally {
          running--;
        }
      };
    };
    t.pool.on('acquire', watch);
    try {
      const res = await t.gql(
        'tenant1.localhost',
        `{ a: projects { totalCount } b: members { totalCount } c: projects(first: 1) { totalCount }
           d: members(first: 1) { edges { node { email } } } }`,
        { token: token2 },
      );
      expect(res.body.errors).toBeUndefined();
    } finally {
      t.pool.off('acquire', watch);
    }
    expect(most).toBe(1);
  });
});
