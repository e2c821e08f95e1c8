import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeGlobalId } from '../../src/graphql/ids.js';
import { type GraphQLResponse, TestApp } from '../helpers/app.js';
import { tenantRowsSnapshot } from '../helpers/snapshot.js';

// SPEC §6 and §7: invalid input is BAD_USER_INPUT and writes nothing, a mutation request is
// all or nothing, and an anonymous caller reads the tenant and the viewer only.
const A = 'tenant1.localhost'; // id 2
const B = 'tenant2.localhost'; // id 3

let t: TestApp;
let tokenA: string;
let tokenB: string;
const superuserSnapshot = () => tenantRowsSnapshot(t.db.superuserUrl);

async function ok<T = any>(host: string, query: string, token: string, variables?: object): Promise<T> {
  const res = await t.gql<T>(host, query, { token, ...(variables ? { variables } : {}) });
  expect(res.body.errors).toBeUndefined();
  return res.body.data!;
}

beforeAll(async () => {
  t = await TestApp.start();
  tokenA = await t.token(2);
  tokenB = await t.token(3);
  await ok(A, 'mutation { createMember(input: { name: "Alice A", email: "alice@a.test" }) { id } }', tokenA);
  await ok(A, 'mutation { createProject(input: { name: "A secret project" }) { id } }', tokenA);
});
afterAll(() => t.close());

function codes(res: GraphQLResponse): (string | undefined)[] | undefined {
  return res.body.errors?.map((e) => e.extensions?.code);
}

describe('input validation', () => {
  it.each([
    ['empty name', 'mutation { createProject(input: { name: "" }) { id } }'],
    ['blank name', 'mutation { createProject(input: { name: "   " }) { id } }'],
    ['malformed email', 'mutation { createMember(input: { name: "X", email: "not-an-email" }) { id } }'],
    ['empty member name', 'mutation { createMember(input: { name: "", email: "x@y.test" }) { id } }'],
    [
      'unknown enum literal',
      `mutation { createTask(input: { projectId: "${encodeGlobalId('Project', 3, '1')}", title: "x", status: BOGUS }) { id } }`,
    ],
  ])('%s is BAD_USER_INPUT and writes nothing', async (_name, query) => {
    const before = await superuserSnapshot();
    const res = await t.gql(B, query, { token: tokenB });
    expect(codes(res)).toEqual(['BAD_USER_INPUT']);
    expect(res.body.data ?? null).toBeNull();
    expect(await superuserSnapshot()).toEqual(before);
  });

  it('an unknown enum in variables is BAD_USER_INPUT', async () => {
    const res = await t.gql(
      B,
      'mutation($s: TaskStatus) { createTask(input: { projectId: "x", title: "x", status: $s }) { id } }',
      { token: tokenB, variables: { s: 'BOGUS' } },
    );
    expect(codes(res)).toEqual(['BAD_USER_INPUT']);
  });

  it('a duplicate email within a tenant is BAD_USER_INPUT (any case); another tenant may reuse it', async () => {
    const create = 'mutation($e: String!) { createMember(input: { name: "Dup", email: $e }) { email } }';
    expect((await ok(B, create, tokenB, { e: 'dup@example.test' })).createMember.email).toBe(
      'dup@example.test',
    );
    for (const e of ['dup@example.test', 'DUP@Example.test']) {
      const res = await t.gql(B, create, { token: tokenB, variables: { e } });
      expect(res.status).toBe(200);
      expect(codes(res)).toEqual(['BAD_USER_INPUT']);
      expect(JSON.stringify(res.body)).not.toMatch(/constraint|members_|Key \(/);
    }
    // The same address in A is fine, and does not reveal that B has it.
    expect((await ok(A, create, tokenA, { e: 'dup@example.test' })).createMember.email).toBe(
      'dup@example.test',
    );
  });
});

describe('a mutation request is atomic', () => {
  it.each([
    ['fails in validation', 'b: createProject(input: { name: "" }) { id }'],
    ['fails in the database', 'b: createMember(input: { name: "again", email: "alice@a.test" }) { id }'],
  ])('the second mutation %s: the first is rolled back', async (_name, second) => {
    const before = await superuserSnapshot();
    const res = await t.gql(
      A,
      `mutation { a: createProject(input: { name: "atomic-first" }) { id } ${second} }`,
      {
        token: tokenA,
      },
    );
    expect(codes(res)).toEqual(['BAD_USER_INPUT']);
    expect(await superuserSnapshot()).toEqual(before);
    const names = await ok(A, '{ projects { edges { node { name } } } }', tokenA);
    expect(JSON.stringify(names)).not.toContain('atomic-first');
  });
});

describe('anonymous requests', () => {
  it('read tenant and viewer with no database round trip', async () => {
    const before = t.queries;
    const res = await t.gql(
      A,
      '{ tenant { id subdomain name } viewer { kind subject tenantId actorTenantId } }',
    );
    expect(res).toMatchObject({
      status: 200,
      body: {
        data: {
          tenant: { id: 2, subdomain: 'tenant1', name: 'Tenant One' },
          viewer: { kind: 'ANONYMOUS', subject: null, tenantId: 2, actorTenantId: null },
        },
      },
    });
    expect(t.queries).toBe(before);
  });

  it.each([
    ['projects', '{ projects { totalCount } }'],
    ['members', '{ members { totalCount } }'],
    ['project', `{ project(id: "${encodeGlobalId('Project', 2, '1')}") { name } }`],
    ['task', `{ task(id: "${encodeGlobalId('Task', 2, '1')}") { title } }`],
    ['node', `{ node(id: "${encodeGlobalId('Project', 2, '1')}") { id } }`],
    ['createProject', 'mutation { createProject(input: { name: "anon" }) { id } }'],
    ['deleteProject', `mutation { deleteProject(id: "${encodeGlobalId('Project', 2, '1')}") }`],
  ])('%s errors with UNAUTHENTICATED and writes nothing', async (_name, query) => {
    const before = await superuserSnapshot();
    const res = await t.gql(A, query);
    expect(codes(res)).toEqual(['UNAUTHENTICATED']);
    expect(JSON.stringify(res.body.data ?? null)).not.toMatch(/secret|"name"/);
    expect(await superuserSnapshot()).toEqual(before);
  });
});
