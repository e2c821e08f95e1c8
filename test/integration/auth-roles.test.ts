import type { GraphQLObjectType } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../../src/auth/verify.js';
import { demoSchema } from '../../src/example/schema.js';
import { TEST_JWT_SECRET, TestApp } from '../helpers/app.js';
import { inTenant, withClient } from '../helpers/db.js';
import { everyTenantRowSnapshot } from '../helpers/snapshot.js';

// SPEC §6 "Roles inside a tenant". The role × operation matrix is generated from the scopes the
// schema declares on its mutations (Pothos scope-auth's `authScopes`), read against the table
// of which caller holds which scope (docs/authentication.md): every mutation is sent as every
// kind of caller, and each answer is what the matrix says — done, or 403 FORBIDDEN with
// nothing written anywhere (every tenant table compared before and after).
const HOST = 'tenant1.localhost'; // tenant 2
const TENANT = 2;

type Caller = 'anonymous' | 'viewer' | 'member' | 'admin' | 'READ key' | 'WRITE key' | 'service';
const CALLERS: readonly Caller[] = [
  'anonymous',
  'viewer',
  'member',
  'admin',
  'READ key',
  'WRITE key',
  'service',
];

/** The scopes each caller holds: the documented table, written out here rather than imported. */
const HOLDS: Record<Caller, readonly string[]> = {
  anonymous: [],
  viewer: ['authenticated', 'user'],
  member: ['authenticated', 'user', 'member'],
  admin: ['authenticated', 'user', 'member', 'admin'],
  'READ key': ['authenticated'],
  'WRITE key': ['authenticated', 'member', 'admin'],
  service: ['authenticated', 'member', 'admin'],
};

/** scope-auth's rule: a map passes if any entry does; `$all` if every entry does, `$any` if one. */
function passes(map: Record<string, unknown>, holds: readonly string[], all = false): boolean {
  const results = Object.entries(map).map(([scope, parameter]) => {
    if (scope === '$all') return passes(parameter as Record<string, unknown>, holds, true);
    if (scope === '$any') return passes(parameter as Record<string, unknown>, holds, false);
    // A scope loader or parameter is beyond this matrix: fail loudly rather than guess.
    if (parameter !== true) throw new Error(`scope ${scope}: ${String(parameter)} is not a plain scope`);
    return holds.includes(scope);
  });
  return all ? results.every(Boolean) : results.some(Boolean);
}

/** What the schema declares for a mutation; undefined: no scope (anyone, anonymous included). */
function scopesOf(field: string): Record<string, unknown> | undefined {
  const mutation = demoSchema.getMutationType() as GraphQLObjectType;
  const options = mutation.getFields()[field]!.extensions.pothosOptions as { authScopes?: unknown };
  if (typeof options.authScopes === 'function') throw new Error(`${field}: authScopes is a function`);
  return options.authScopes as Record<string, unknown> | undefined;
}

type Outcome = 'done' | 'FORBIDDEN' | 'UNAUTHENTICATED';
function expected(field: string, caller: Caller): Outcome {
  const scopes = scopesOf(field);
  if (!scopes || passes(scopes, HOLDS[caller])) return 'done';
  return caller === 'anonymous' ? 'UNAUTHENTICATED' : 'FORBIDDEN';
}

/** Fresh objects for one attempt, made by the tenant's admin, so every call has a real target. */
interface Targets {
  project: string;
  task: string;
  apiKey: string;
  n: number;
}

/** One valid call per mutation of the tenant schema; the test fails if the schema has another. */
const OPERATIONS: Record<string, (x: Targets) => { query: string; variables?: Record<string, unknown> }> = {
  createApiKey: () => ({ query: 'mutation { createApiKey(input: { name: "m" }) { apiKey { id } } }' }),
  revokeApiKey: (x) => ({
    query: 'mutation($id: ID!) { revokeApiKey(id: $id) }',
    variables: { id: x.apiKey },
  }),
  createMember: (x) => ({
    query: 'mutation($e: String!) { createMember(input: { name: "M", email: $e }) { id } }',
    variables: { e: `matrix${x.n}@example.test` },
  }),
  createProject: () => ({ query: 'mutation { createProject(input: { name: "P" }) { id } }' }),
  updateProject: (x) => ({
    query: 'mutation($id: ID!) { updateProject(input: { id: $id, name: "Q" }) { id } }',
    variables: { id: x.project },
  }),
  deleteProject: (x) => ({
    query: 'mutation($id: ID!) { deleteProject(id: $id) }',
    variables: { id: x.project },
  }),
  createTask: (x) => ({
    query: 'mutation($p: ID!) { createTask(input: { projectId: $p, title: "T" }) { id } }',
    variables: { p: x.project },
  }),
  updateTask: (x) => ({
    query: 'mutation($id: ID!) { updateTask(input: { id: $id, status: DONE }) { id } }',
    variables: { id: x.task },
  }),
  deleteTask: (x) => ({ query: 'mutation($id: ID!) { deleteTask(id: $id) }', variables: { id: x.task } }),
  // Someone else's sessions: the callers' own tokens stay good for the next attempt.
  revokeSessions: (x) => ({
    query: 'mutation($s: String!) { revokeSessions(subject: $s) }',
    variables: { s: `someone-${x.n}` },
  }),
};

let t: TestApp;
let admin: string;
const headers = new Map<Caller, Record<string, string>>();

async function as(caller: Caller, query: string, variables?: Record<string, unknown>) {
  return t.gql(HOST, query, { headers: headers.get(caller)!, ...(variables && { variables }) });
}

async function createKey(scope?: 'READ' | 'WRITE') {
  const res = await t.gql(
    HOST,
    `mutation { createApiKey(input: { name: "matrix"${scope ? `, scope: ${scope}` : ''} }) { secret apiKey { id scope } } }`,
    { token: admin },
  );
  expect(res.body.errors).toBeUndefined();
  return res.body.data!.createApiKey as { secret: string; apiKey: { id: string; scope: string } };
}

let seq = 0;
async function targets(): Promise<Targets> {
  const done = async (query: string, variables?: Record<string, unknown>) => {
    const res = await t.gql(HOST, query, { token: admin, ...(variables && { variables }) });
    expect(res.body.errors).toBeUndefined();
    return Object.values(res.body.data!)[0] as { id: string };
  };
  const project = (await done('mutation { createProject(input: { name: "target" }) { id } }')).id;
  const task = (
    await done('mutation($p: ID!) { createTask(input: { projectId: $p, title: "target" }) { id } }', {
      p: project,
    })
  ).id;
  return { project, task, apiKey: (await createKey()).apiKey.id, n: ++seq };
}

beforeAll(async () => {
  t = await TestApp.start();
  admin = await t.token(TENANT, 'matrix-admin', '1h', { roles: ['admin'] });
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  headers.set('anonymous', {});
  headers.set('viewer', bearer(await t.token(TENANT, 'matrix-viewer', '1h', { roles: ['viewer'] })));
  // No roles claim at all: the default role.
  headers.set('member', bearer(await t.token(TENANT, 'matrix-member', '1h', { roles: null })));
  headers.set('admin', bearer(admin));
  headers.set('READ key', { authorization: `ApiKey ${(await createKey('READ')).secret}` });
  headers.set('WRITE key', { authorization: `ApiKey ${(await createKey()).secret}` });
  headers.set('service', bearer(await t.serviceToken(81)));
});
afterAll(() => t?.close());

describe('the role × operation matrix, from the schema', () => {
  it('has a call for every mutation of the tenant schema', () => {
    const mutations = Object.keys((demoSchema.getMutationType() as GraphQLObjectType).getFields());
    expect(Object.keys(OPERATIONS).sort()).toEqual(mutations.sort());
  });

  it("is the SPEC's: viewers and READ keys write nothing, members write projects and tasks, only admin users manage credentials", () => {
    const matrix = Object.fromEntries(
      Object.keys(OPERATIONS)
        .sort()
        .map((field) => [field, CALLERS.filter((caller) => expected(field, caller) === 'done').join(', ')]),
    );
    const data = 'member, admin, WRITE key, service';
    const people = 'admin, WRITE key, service';
    expect(matrix).toEqual({
      createApiKey: 'admin',
      createMember: people,
      createProject: data,
      createTask: data,
      deleteProject: data,
      deleteTask: data,
      revokeApiKey: 'admin',
      revokeSessions: 'admin',
      updateProject: data,
      updateTask: data,
    });
  });

  for (const field of Object.keys(OPERATIONS).sort()) {
    it(`${field}: each caller gets what the matrix says, and a refusal writes nothing`, async () => {
      for (const caller of CALLERS) {
        const operation = OPERATIONS[field]!(await targets());
        const before = await everyTenantRowSnapshot(t.db.superuserUrl);
        const res = await as(caller, operation.query, operation.variables);
        const after = await everyTenantRowSnapshot(t.db.superuserUrl);
        const outcome = expected(field, caller);
        const answer = {
          caller,
          status: res.status,
          codes: res.body.errors?.map((e) => e.extensions?.code) ?? [],
          wrote: JSON.stringify(after) !== JSON.stringify(before),
        };
        if (outcome === 'done') {
          expect(answer).toEqual({ caller, status: 200, codes: [], wrote: true });
          expect(res.body.data?.[field]).toBeTruthy();
        } else {
          // 403 as errors.ts's forbidden() answers; anonymous: sign in (UNAUTHENTICATED, 200).
          const status = outcome === 'FORBIDDEN' ? 403 : 200;
          expect(answer).toEqual({ caller, status, codes: [outcome], wrote: false });
          expect(res.body.data ?? null).toBeNull();
        }
      }
    });
  }
});

describe('reads', () => {
  it('every signed-in caller reads, READ keys and viewers included', async () => {
    for (const caller of CALLERS.filter((c) => c !== 'anonymous')) {
      const res = await as(caller, '{ projects(first: 1) { totalCount } members(first: 1) { totalCount } }');
      expect({ caller, errors: res.body.errors }).toEqual({ caller, errors: undefined });
    }
  });
});

describe('viewer { roles }', () => {
  it('shows the roles whose permissions each caller has, weaker ones included', async () => {
    const shown: Record<string, unknown> = {};
    for (const caller of CALLERS) {
      shown[caller] = (await as(caller, '{ viewer { kind roles } }')).body.data?.viewer;
    }
    expect(shown).toEqual({
      anonymous: { kind: 'ANONYMOUS', roles: [] },
      viewer: { kind: 'USER', roles: ['VIEWER'] },
      member: { kind: 'USER', roles: ['VIEWER', 'MEMBER'] },
      admin: { kind: 'USER', roles: ['VIEWER', 'MEMBER', 'ADMIN'] },
      'READ key': { kind: 'API_KEY', roles: ['VIEWER'] },
      'WRITE key': { kind: 'API_KEY', roles: ['VIEWER', 'MEMBER', 'ADMIN'] },
      service: { kind: 'SERVICE', roles: ['VIEWER', 'MEMBER', 'ADMIN'] },
    });
  });

  it('reads the strongest known role; unknown ones are ignored, only unknown ones are a viewer', async () => {
    const rolesFor = async (roles: unknown) => {
      const token = await t.token(TENANT, 'roles-probe', '1h', { roles });
      return (await t.gql(HOST, '{ viewer { roles } }', { token })).body.data?.viewer.roles;
    };
    expect(await rolesFor(['viewer', 'admin'])).toEqual(['VIEWER', 'MEMBER', 'ADMIN']);
    expect(await rolesFor('viewer member')).toEqual(['VIEWER', 'MEMBER']);
    expect(await rolesFor(['owner', 'member'])).toEqual(['VIEWER', 'MEMBER']);
    expect(await rolesFor(['owner'])).toEqual(['VIEWER']);
    expect(await rolesFor([])).toEqual(['VIEWER']);
    expect(await rolesFor(42)).toEqual(['VIEWER']);
  });

  it('a token that names two roles for one subject is cached apart (the response cache keys the role)', async () => {
    const viewer = await t.token(TENANT, 'same-subject', '1h', { roles: ['viewer'] });
    const adminToo = await t.token(TENANT, 'same-subject', '1h', { roles: ['admin'] });
    const ask = (token: string) => t.gql(HOST, '{ viewer { subject roles } }', { token });
    expect((await ask(viewer)).body.data?.viewer.roles).toEqual(['VIEWER']);
    expect((await ask(adminToo)).body.data?.viewer.roles).toEqual(['VIEWER', 'MEMBER', 'ADMIN']);
  });
});

describe('API key scopes', () => {
  it('are WRITE unless READ is asked for, fixed at creation and shown on ApiKey', async () => {
    expect((await createKey()).apiKey.scope).toBe('WRITE');
    const read = await createKey('READ');
    expect(read.apiKey.scope).toBe('READ');
    const listed = await t.gql(HOST, '{ apiKeys(first: 100) { edges { node { id scope } } } }', {
      token: admin,
    });
    expect(listed.body.data!.apiKeys.edges).toContainEqual({ node: { id: read.apiKey.id, scope: 'READ' } });
  });

  it('cannot be changed by the runtime role, even by a statement that tries', async () => {
    const read = await createKey('READ');
    const id = Buffer.from(read.apiKey.id, 'base64url').toString().split(':').at(-1);
    await expect(
      withClient(t.db.appUrl, (c) =>
        inTenant(c, TENANT, () => c.query("UPDATE app.api_keys SET scope = 'WRITE' WHERE id = $1", [id])),
      ),
    ).rejects.toThrow(/permission denied/);
    const res = await t.gql(HOST, 'mutation { createProject(input: { name: "escalated" }) { id } }', {
      headers: { authorization: `ApiKey ${read.secret}` },
    });
    expect(res.body.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
  });
});

describe('JWT_ROLES_CLAIM', () => {
  it('may be a dotted path, read as the tenant claim is (Keycloak realm_access.roles)', async () => {
    const keycloak = await TestApp.start({ env: { JWT_ROLES_CLAIM: 'realm_access.roles' } });
    try {
      const sign = (claims: Record<string, unknown>) =>
        signToken({
          kind: 'user',
          secret: TEST_JWT_SECRET,
          subject: 'kc-user',
          tenantClaim: 'tid',
          tenantId: TENANT,
          ttl: '5m',
          claims,
        });
      const rolesWith = async (claims: Record<string, unknown>) =>
        (await keycloak.gql(HOST, '{ viewer { roles } }', { token: await sign(claims) })).body.data?.viewer
          .roles;
      expect(await rolesWith({ realm_access: { roles: ['offline_access', 'viewer'] } })).toEqual(['VIEWER']);
      expect(await rolesWith({ realm_access: { roles: ['admin'] } })).toEqual(['VIEWER', 'MEMBER', 'ADMIN']);
      // The top-level `roles` claim is not the configured one here.
      expect(await rolesWith({ roles: ['viewer'] })).toEqual(['VIEWER', 'MEMBER']);
      const write = await keycloak.gql(HOST, 'mutation { createProject(input: { name: "kc" }) { id } }', {
        token: await sign({ realm_access: { roles: ['viewer'] } }),
      });
      expect(write.status).toBe(403);
      expect(write.body.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
    } finally {
      await keycloak.close();
    }
  });
});
