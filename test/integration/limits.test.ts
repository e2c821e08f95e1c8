import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestApp } from '../helpers/app.js';

let t: TestApp;
let token: string;
beforeAll(async () => {
  t = await TestApp.start({
    env: {
      GRAPHQL_MAX_DEPTH: '6',
      GRAPHQL_MAX_ALIASES: '5',
      GRAPHQL_MAX_TOKENS: '200',
      GRAPHQL_MAX_BATCH: '3',
      GRAPHQL_MAX_COST: '400',
    },
  });
  token = await t.token(2);
});
afterAll(() => t.close());

/** `{ projects { edges { node { … __typename } } } }`: `depth` fields deep, the leaf included. */
function nested(depth: number): string {
  const levels = ['projects', 'edges', 'node', 'tasks', 'edges', 'node', 'project', 'tasks', 'edges', 'node'];
  let query = '__typename';
  for (let i = depth - 2; i >= 0; i--) query = `${levels[i]} { ${query} }`;
  return `{ ${query} }`;
}

function aliases(n: number): string {
  return `{ ${Array.from({ length: n }, (_, i) => `a${i}: tenant { id }`).join(' ')} }`;
}

async function rejected(query: string) {
  const res = await t.gql('tenant1.localhost', query, { token });
  expect(res.body.data ?? undefined).toBeUndefined();
  expect(res.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  return res;
}

async function accepted(query: string) {
  const res = await t.gql('tenant1.localhost', query, { token });
  expect(res.body.errors).toBeUndefined();
  expect(res.body.data).toBeTruthy();
}

describe('abuse limits, each at its edge', () => {
  it('depth: the limit passes, one more is rejected before execution', async () => {
    const before = t.queries;
    await accepted(nested(6));
    await rejected(nested(7));
    // The rejected operation never reached the database.
    expect(t.queries - before).toBeGreaterThan(0);
    const afterAccepted = t.queries;
    await rejected(nested(7));
    expect(t.queries).toBe(afterAccepted);
  });

  it('aliases', async () => {
    await accepted(aliases(5));
    await rejected(aliases(6));
  });

  it('tokens', async () => {
    // `{ tenant { id } }` is 6 tokens; each extra `__typename` adds one.
    const query = (n: number) => `{ tenant { id ${'__typename '.repeat(n - 6)}} }`;
    await accepted(query(200));
    await rejected(query(201));
  });

  it('cost', async () => {
    await accepted('{ projects { edges { node { name } } } }');
    await rejected(
      '{ projects { edges { node { name tasks { edges { node { title project { tasks { edges { node { title } } } } } } } } } } }',
    );
  });

  it('batches: the limit passes, one more is rejected', async () => {
    const batch = (n: number) => Array.from({ length: n }, () => ({ query: '{ tenant { id } }' }));
    const send = (n: number) =>
      t.app.fetch('http://tenant1.localhost/graphql', {
        method: 'POST',
        headers: { host: 'tenant1.localhost', 'content-type': 'application/json' },
        body: JSON.stringify(batch(n)),
      });
    const ok = await send(3);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toHaveLength(3);
    const tooMany = await send(4);
    expect(tooMany.status).toBeGreaterThanOrEqual(400);
    const body = (await tooMany.json()) as { data?: unknown; errors: unknown[] };
    expect(body.data).toBeUndefined();
    expect(body.errors.length).toBeGreaterThan(0);
  });
});

describe('production mode', () => {
  let prod: TestApp;
  beforeAll(async () => {
    prod = await TestApp.start({ env: { NODE_ENV: 'production' } });
  });
  afterAll(() => prod.close());

  it('turns off introspection and field suggestions', async () => {
    const token = await prod.token(2);
    const intro = await prod.gql('tenant1.localhost', '{ __schema { types { name } } }', { token });
    expect(intro.body.data ?? undefined).toBeUndefined();
    expect(intro.body.errors?.length).toBeGreaterThan(0);
    const typo = await prod.gql('tenant1.localhost', '{ projectz { totalCount } }', { token });
    expect(JSON.stringify(typo.body)).not.toContain('Did you mean');
    const dev = await t.gql('tenant1.localhost', '{ projectz { totalCount } }', { token });
    expect(JSON.stringify(dev.body)).toContain('Did you mean');
  });
});
