import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import { demoSchema } from '../../src/example/schema.js';
import { defaultTenants, TestApp } from '../helpers/app.js';
import { withClient } from '../helpers/db.js';
import { observedTwin, post, resolversTwin, seedVariety, send } from '../helpers/fastpath.js';
import {
  type Case,
  handWritten,
  isolationReads,
  type SeededIds,
  schemaReplay,
  type Who,
} from '../helpers/fastpath-corpus.js';
import { provisionDedicated, superuserUrlOf } from '../helpers/tiers.js';

// The fast path (src/fastpath/) against the resolvers, byte for byte: every query of the corpus
// is sent to the app (fast path on) and to its twin over the same database with the fast path
// off, and the two answers (status, content type, body) must be identical. Tenant 3 has a
// database of its own, as in the isolation property test.
const tenants = {
  ...defaultTenants,
  defaults: { ...defaultTenants.defaults, rateLimit: { requests: 1e6, perSeconds: 60 } },
  tenants: defaultTenants.tenants.map((tenant) =>
    tenant.id === 3 ? { ...tenant, isolation: 'database' } : tenant,
  ),
};
const HOST: Record<number, string> = {
  2: 'tenant1.localhost',
  3: 'tenant2.localhost',
  4: 'tenant3.localhost',
};

let t: TestApp;
let slow: App;
let answered = 0;
/** Statements PostgreSQL would not prepare: a bug of the compiler, whatever the resolvers answered. */
let refused = 0;
let fastApp: App;
const headersOf = new Map<string, Record<string, string>>();

async function idsOf(tenantId: number, otherTenantId: number): Promise<SeededIds> {
  const rows = (tenant: number, sql: string) =>
    withClient(superuserUrlOf(t, tenant), async (c) =>
      (await c.query(sql, [tenant])).rows.map((r) => String(r.id)),
    );
  const [projects, tasks, unassigned, members, other] = await Promise.all([
    rows(tenantId, 'SELECT id FROM app.projects WHERE tenant_id = $1 ORDER BY id'),
    rows(tenantId, 'SELECT id FROM app.tasks WHERE tenant_id = $1 AND assignee_id IS NOT NULL ORDER BY id'),
    rows(tenantId, 'SELECT id FROM app.tasks WHERE tenant_id = $1 AND assignee_id IS NULL ORDER BY id'),
    rows(tenantId, 'SELECT id FROM app.members WHERE tenant_id = $1 ORDER BY id'),
    rows(otherTenantId, 'SELECT id FROM app.projects WHERE tenant_id = $1 ORDER BY id DESC'),
  ]);
  return {
    tenantId,
    otherTenantId,
    projects,
    tasks,
    unassignedTask: unassigned[0]!,
    members,
    otherProject: other[0]!,
  };
}

beforeAll(async () => {
  t = await TestApp.start({
    tenants,
    prepare: async (db, secretsFile) => void (await provisionDedicated(db, secretsFile, tenants)),
  });
  await seedVariety((tenantId) => superuserUrlOf(t, tenantId));
  slow = resolversTwin(t);
  // The app under test: TestApp's own, with an observer for the fast path's answers.
  fastApp = observedTwin(t, (outcome) => {
    if (outcome === 'answered') answered++;
    if (outcome === 'refused') refused++;
  });
  for (const id of [2, 3, 4]) {
    headersOf.set(`user${id}`, { authorization: `Bearer ${await t.token(id)}` });
    const key = await t.gql(HOST[id]!, 'mutation { createApiKey(input: { name: "fast path" }) { secret } }', {
      token: await t.token(id, `admin-${id}`),
    });
    if (key.body.data)
      headersOf.set(`apiKey${id}`, { authorization: `ApiKey ${key.body.data.createApiKey.secret}` });
  }
  headersOf.set('service', { authorization: `Bearer ${await t.serviceToken(81)}` });
});
afterAll(() => t.close());

function headers(who: Who, tenantId: number): Record<string, string> | undefined {
  if (who === 'anonymous') return {};
  if (who === 'service') return headersOf.get('service');
  if (who === 'apiKey') return headersOf.get(`apiKey${tenantId}`);
  if (who === 'otherUser') return headersOf.get(`user${tenantId === 2 ? 3 : 2}`);
  return headersOf.get(`user${tenantId}`);
}

/** Runs `c` on both apps for `tenantId`; whether the fast path answered it. */
async function compare(c: Case, tenantId: number): Promise<boolean> {
  const h = headers(c.who ?? 'user', tenantId);
  if (!h) return false; // no API key for this tenant (see beforeAll)
  const options = { headers: h, variables: c.variables, operationName: c.operationName };
  const before = answered;
  const fast = await post(fastApp, HOST[tenantId]!, c.query, options);
  const served = answered > before;
  const reference = await post(slow, HOST[tenantId]!, c.query, options);
  expect(fast, `${c.name} (tenant ${tenantId})`).toEqual(reference);
  expect(refused, `${c.name}: a statement PostgreSQL refused`).toBe(0);
  if (c.fast !== undefined) expect(served, `${c.name}: answered by the fast path`).toBe(c.fast);
  return served;
}

describe('the fast path answers byte for byte as the resolvers', () => {
  for (const [tenantId, otherTenantId] of [
    [2, 3],
    [3, 2],
  ] as const) {
    it(`hand-written corpus, tenant ${tenantId}`, async () => {
      const ids = await idsOf(tenantId, otherTenantId);
      let served = 0;
      const cases = handWritten(ids);
      for (const c of cases) if (await compare(c, tenantId)) served++;
      expect(served).toBeGreaterThan(cases.length / 2);
    });

    it(`the isolation property test's reads, tenant ${tenantId}`, async () => {
      const ids = await idsOf(tenantId, otherTenantId);
      for (const c of isolationReads(ids)) {
        for (const who of ['user', 'apiKey', 'service', 'anonymous'] as const) {
          const fast = who === 'anonymous' ? false : c.fast;
          await compare({ ...c, who: c.who ?? who, fast: c.who ? c.fast : fast }, tenantId);
        }
      }
    });

    it(`the schema replay's query operations, tenant ${tenantId}`, async () => {
      const ids = await idsOf(tenantId, otherTenantId);
      const cases = schemaReplay(demoSchema, ids);
      expect(cases.length).toBeGreaterThan(10);
      for (const c of cases) await compare(c, tenantId);
    });
  }

  it('batches, and queries sent with GET', async () => {
    const headers = headersOf.get('user2')!;
    const C =
      '{ projects(first: 3) { edges { node { name tasks(first: 2) { edges { node { title } } } } } } }';
    const bodies = [
      JSON.stringify([{ query: C }, { query: '{ projects { totalCount } }' }]),
      JSON.stringify([
        { query: C },
        { query: '{ tenant { id } }' },
        { query: '{ projects(first: 101) { totalCount } }' },
      ]),
      JSON.stringify([
        { query: 'mutation { createApiKey(input: { name: "x" }) { apiKey { name } } }' },
        { query: C },
      ]),
      new URLSearchParams({ query: C }),
      new URLSearchParams({
        query: 'query($n: Int) { projects(first: $n) { totalCount } }',
        variables: '{"n":1}',
      }),
    ];
    for (const body of bodies) {
      const before = answered;
      const fast = await send(fastApp, HOST[2]!, body, headers);
      expect(answered).toBeGreaterThan(before);
      expect(fast).toEqual(await send(slow, HOST[2]!, body, headers));
    }
  });

  it('a tenant without rows (tenant 3 of the file, id 4)', async () => {
    for (const query of [
      '{ projects { totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { id name } } } }',
      '{ projects(first: 1) { edges { node { tasks { totalCount edges { node { id } } } } } } }',
    ]) {
      expect(await compare({ name: query, query, fast: true }, 4)).toBe(true);
    }
  });
});
