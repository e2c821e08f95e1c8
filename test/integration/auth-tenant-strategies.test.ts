import { readFileSync } from 'node:fs';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../../src/auth/verify.js';
import { defaultTenants, TEST_JWT_SECRET, TEST_SERVICE_SECRET, TestApp } from '../helpers/app.js';
import { subscribe } from '../helpers/instances.js';
import { httpPost } from '../helpers/raw-http.js';
import { tenantqlInProcess } from '../helpers/run-command.js';

// SPEC §6 "Tenant claim strategies", over a real socket with real Host headers: the four ways an
// identity provider names the tenant, each against the Host cross-check of §5. tenant1.localhost
// is tenant 2, tenant2.localhost (and graphql.tenant-two.test) tenant 3, tenant3.localhost 4.
const H1 = 'tenant1.localhost';
const H2 = 'tenant2.localhost';
const now = () => Math.floor(Date.now() / 1000);
const sign = (payload: Record<string, unknown>) =>
  new SignJWT({ sub: 'alice', iat: now(), exp: now() + 600, ...payload })
    .setProtectedHeader({ alg: 'HS256' })
    .sign(new TextEncoder().encode(TEST_JWT_SECRET));

interface Answer {
  status: number;
  code: string | undefined;
  viewer: { kind: string; subject: string; tenantId: number } | undefined;
}

async function ask(port: number, host: string, token: string): Promise<Answer> {
  const { status, body } = await httpPost(port, {
    host,
    headers: { authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: '{ viewer { kind subject tenantId } }' }),
  });
  return { status, code: body.errors?.[0]?.extensions?.code, viewer: body.data?.viewer };
}

type Claims = Record<string, unknown>;
type Tenant = { id: number; subdomain: string };
const TENANT1: Tenant = { id: 2, subdomain: 'tenant1' };
const TENANT2: Tenant = { id: 3, subdomain: 'tenant2' };

interface Strategy {
  name: string;
  /** The README example this strategy is (its bold lead-in names the provider). */
  readme: string;
  env: Record<string, string>;
  /** The tenants file's externalIds of tenants 2 and 3. */
  externalIds: Partial<Record<2 | 3, string[]>>;
  /** Claims that name `tenant` under this strategy. */
  naming: (tenant: Tenant) => Claims;
  /** An organisation no tenant has. */
  unknown: Claims;
  malformed: [string, Claims][];
  /** Cases of this strategy alone: [what, claims, host, status, code, tenantId]. */
  more: [string, Claims, string, number, string | undefined, number?][];
}

const AUTH0 = { 2: 'org_W30QP3gBEr2Mn9kS', 3: 'org_Kq8dT1vRm2Yb7XcN' } as const;
const SUPABASE_TENANT2 = 'c3a1f7e2-9b4d-4f60-8e2a-5d7c9b1e3f42';
const ZITADEL_CLAIM = 'urn:zitadel:iam:user:resourceowner:id';
const ZITADEL = { 2: '263154236541781250', 3: '263154299876543210' } as const;

const strategies: Strategy[] = [
  {
    name: 'a flat claim (Auth0 org_id, external ids)',
    readme: 'Auth0',
    env: { JWT_TENANT_CLAIM: 'org_id' },
    externalIds: { 2: [AUTH0[2]], 3: [AUTH0[3]] },
    naming: (t) => ({ org_id: AUTH0[t.id as 2 | 3] }),
    unknown: { org_id: 'org_0000000000000000' },
    malformed: [
      ['no org_id (tid is not the claim any more)', { tid: 2 }],
      ['an empty org_id', { org_id: '' }],
      ['an array where a string belongs', { org_id: [AUTH0[2]] }],
      ['an object', { org_id: { id: AUTH0[2] } }],
      ['true', { org_id: true }],
      ['null', { org_id: null }],
      ['another case', { org_id: AUTH0[2].toUpperCase() }],
    ],
    more: [
      ['the tenant id itself', { org_id: 2 }, H1, 200, undefined, 2],
      ['the tenant id as a string', { org_id: '2' }, H1, 200, undefined, 2],
    ],
  },
  {
    name: 'a nested path (Supabase app_metadata.tenant_id, an id or an external id)',
    readme: 'Supabase',
    env: { JWT_TENANT_CLAIM: 'app_metadata.tenant_id' },
    externalIds: { 3: [SUPABASE_TENANT2] },
    naming: (t) => ({
      role: 'authenticated',
      app_metadata: { provider: 'email', tenant_id: t.id === 3 ? SUPABASE_TENANT2 : t.id },
    }),
    unknown: { app_metadata: { tenant_id: '00000000-0000-4000-8000-000000000000' } },
    malformed: [
      ['no app_metadata', { role: 'authenticated' }],
      ['app_metadata a string', { app_metadata: '2' }],
      ['app_metadata an array (arrays are not walked)', { app_metadata: [{ tenant_id: 2 }] }],
      ['an empty tenant_id', { app_metadata: { tenant_id: '' } }],
      ['an array where an id belongs', { app_metadata: { tenant_id: [2] } }],
      ['a fraction', { app_metadata: { tenant_id: 2.5 } }],
      ['the user-editable user_metadata', { user_metadata: { tenant_id: 2 } }],
    ],
    more: [
      [
        'a top-level claim named app_metadata.tenant_id wins over the path',
        { 'app_metadata.tenant_id': 3, app_metadata: { tenant_id: 2 } },
        H1,
        403,
        'TENANT_MISMATCH',
      ],
    ],
  },
  {
    name: 'a URN (Zitadel urn:zitadel:iam:user:resourceowner:id, external ids)',
    readme: 'Zitadel',
    env: { JWT_TENANT_CLAIM: ZITADEL_CLAIM },
    externalIds: { 2: [ZITADEL[2]], 3: [ZITADEL[3]] },
    naming: (t) => ({ [ZITADEL_CLAIM]: ZITADEL[t.id as 2 | 3] }),
    unknown: { [ZITADEL_CLAIM]: '263154200000000001' },
    malformed: [
      ['the id as a JSON number (past 2^53, not the string)', { [ZITADEL_CLAIM]: Number(ZITADEL[2]) }],
      ['an empty string', { [ZITADEL_CLAIM]: '' }],
      ['an array where a string belongs', { [ZITADEL_CLAIM]: [ZITADEL[2]] }],
      [
        'the URN split into objects (a URN is one key)',
        { 'urn:zitadel:iam:user:resourceowner': { id: ZITADEL[2] } },
      ],
      ['another URN', { 'urn:zitadel:iam:org:id': ZITADEL[2] }],
    ],
    more: [],
  },
  {
    name: 'groups (Keycloak groups, prefix tenant:)',
    readme: 'Keycloak',
    env: { JWT_TENANT_FROM: 'group', JWT_TENANT_GROUP_PREFIX: 'tenant:' },
    externalIds: {},
    naming: (t) => ({ groups: [`tenant:${t.subdomain}`, 'staff'] }),
    unknown: { groups: ['tenant:nosuch', 'staff'] },
    malformed: [
      ['no groups (tid is not read for user tokens)', { tid: 2 }],
      ['a string where an array belongs', { groups: 'tenant:tenant1' }],
      ['an empty array', { groups: [] }],
      ['a non-string among the groups', { groups: ['tenant:tenant1', 7] }],
      ['no group with the prefix', { groups: ['staff', 'offline_access'] }],
      ['only a virtual tenant', { groups: ['tenant:reports'] }],
      ['a custom domain instead of a subdomain', { groups: ['tenant:graphql.tenant-two.test'] }],
    ],
    more: [
      [
        'several tenants, on tenant1: acts as tenant1',
        { groups: ['tenant:tenant2', 'tenant:tenant1'] },
        H1,
        200,
        undefined,
        2,
      ],
      [
        'several tenants, on tenant2: acts as tenant2',
        { groups: ['tenant:tenant2', 'tenant:tenant1'] },
        H2,
        200,
        undefined,
        3,
      ],
      [
        'several tenants, on a custom domain of one',
        { groups: ['tenant:tenant1', 'tenant:tenant2'] },
        'graphql.tenant-two.test',
        200,
        undefined,
        3,
      ],
      [
        'several tenants, on the host of none of them',
        { groups: ['tenant:tenant1', 'tenant:tenant2'] },
        'tenant3.localhost',
        403,
        'TENANT_MISMATCH',
      ],
    ],
  },
];

/** defaultTenants with the strategy's externalIds on tenants 2 and 3. */
const tenantsFor = (externalIds: Strategy['externalIds']) => ({
  ...defaultTenants,
  tenants: defaultTenants.tenants.map((t) => {
    const ids = externalIds[t.id as 2 | 3];
    return ids ? { ...t, externalIds: ids } : t;
  }),
});

/** The README's worked examples: env lines, then `token {…}` and `tenant {…}`, in ```text blocks. */
function readmeExamples() {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf('### Tenant claims from an identity provider');
  const section = readme.slice(start, readme.indexOf('\n### ', start + 1));
  return [...section.matchAll(/\*\*([^*]+)\*\*[\s\S]*?```text\n([\s\S]*?)```/g)].map(([, title, block]) => {
    const lines = block!.trim().split('\n');
    const env = Object.fromEntries(
      lines
        .filter((l) => /^[A-Z_]+=/.test(l))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    const json = (word: string) =>
      JSON.parse(lines.find((l) => l.startsWith(`${word} `))!.slice(word.length));
    return { title: title!, env, token: json('token') as Claims, tenant: json('tenant') as object };
  });
}

it('the README has one worked example per strategy here', () => {
  const titles = readmeExamples().map((example) => example.title);
  expect(titles).toHaveLength(strategies.length);
  for (const strategy of strategies)
    expect(titles.filter((title) => title.includes(strategy.readme))).toHaveLength(1);
});

describe.each(strategies)('$name', (strategy) => {
  let t: TestApp;
  let port: number;
  beforeAll(async () => {
    t = await TestApp.start({ env: strategy.env, tenants: tenantsFor(strategy.externalIds) });
    port = await t.listen();
  });
  afterAll(() => t.close());

  const expectAnswer = async (
    host: string,
    claims: Claims,
    status: number,
    code?: string,
    tenantId?: number,
  ) => {
    const answer = await ask(port, host, await sign(claims));
    expect({ status: answer.status, code: answer.code }).toEqual({ status, code });
    if (status === 200) expect(answer.viewer).toEqual({ kind: 'USER', subject: 'alice', tenantId });
    else expect(answer.viewer).toBeUndefined();
  };

  it("a token for the host's tenant → 200, acting as it", async () => {
    await expectAnswer(H1, strategy.naming(TENANT1), 200, undefined, 2);
    await expectAnswer(H2, strategy.naming(TENANT2), 200, undefined, 3);
  });

  it('a token for another tenant → 403 TENANT_MISMATCH', async () => {
    await expectAnswer(H1, strategy.naming(TENANT2), 403, 'TENANT_MISMATCH');
    await expectAnswer(H2, strategy.naming(TENANT1), 403, 'TENANT_MISMATCH');
  });

  it('an organisation no tenant has → 401', async () => {
    await expectAnswer(H1, strategy.unknown, 401, 'UNAUTHENTICATED');
  });

  it.each(strategy.malformed)('a malformed claim, %s → 401', async (_what, claims) => {
    await expectAnswer(H1, claims, 401, 'UNAUTHENTICATED');
  });

  it.each(strategy.more)('%s', async (_what, claims, host, status, code, tenantId) => {
    await expectAnswer(host, claims, status, code, tenantId);
  });

  it('the Host cross-check: the tenant the token names must be the host’s, on every kind of host', async () => {
    await expectAnswer('graphql.tenant-two.test', strategy.naming(TENANT2), 200, undefined, 3);
    await expectAnswer('graphql.tenant-two.test', strategy.naming(TENANT1), 403, 'TENANT_MISMATCH');
    await expectAnswer('tenant3.localhost', strategy.naming(TENANT1), 403, 'TENANT_MISMATCH');
    await expectAnswer('admin.localhost', strategy.naming(TENANT1), 403, 'TENANT_MISMATCH');
    await expectAnswer('reports.localhost', strategy.naming(TENANT1), 403, 'FORBIDDEN');
    await expectAnswer('acme.localhost', strategy.naming(TENANT1), 403, 'TENANT_DISABLED');
    await expectAnswer('nosuch.localhost', strategy.naming(TENANT1), 404, 'TENANT_NOT_FOUND');
  });

  it("service tokens keep naming their virtual tenant's id in JWT_TENANT_CLAIM", async () => {
    const service = (tenantId: number) =>
      signToken({
        kind: 'service',
        secret: TEST_SERVICE_SECRET,
        subject: 'reports',
        tenantClaim: strategy.env.JWT_TENANT_CLAIM ?? 'tid',
        tenantId,
        ttl: '5m',
      });
    expect(await ask(port, H1, await service(81))).toMatchObject({
      status: 200,
      viewer: { kind: 'SERVICE', tenantId: 2 },
    });
    expect(await ask(port, 'tenant3.localhost', await service(81))).toMatchObject({
      status: 403,
      code: 'FORBIDDEN',
    });
  });

  it("the README's example works as written", async () => {
    const example = readmeExamples().find((e) => e.title.includes(strategy.readme))!;
    expect(example.env).toEqual(strategy.env);
    expect(tenantsFor(strategy.externalIds).tenants.find((x) => x.id === 2)).toEqual(example.tenant);
    const answer = await ask(port, H1, await sign(example.token));
    expect(answer).toEqual({
      status: 200,
      code: undefined,
      viewer: { kind: 'USER', subject: example.token.sub, tenantId: 2 },
    });
  });
});

describe('a reload that changes external ids', () => {
  const ORG = 'org_W30QP3gBEr2Mn9kS';
  const withIds = (ids: Partial<Record<2 | 3, string[]>>) => tenantsFor(ids);
  let t: TestApp;
  let port: number;
  let token: string;
  beforeAll(async () => {
    t = await TestApp.start({ env: { JWT_TENANT_CLAIM: 'org_id' }, tenants: withIds({ 2: [ORG] }) });
    port = await t.listen();
    token = await sign({ org_id: ORG });
  });
  afterAll(() => t.close());

  const reloadWith = async (file: object) => {
    await t.writeTenants(file);
    return t.registry.reload();
  };

  it('applies to the next request, though the same token bytes are remembered as verified', async () => {
    // Secrets only, no JWKS: the verified-token cache is on (auth/verify.ts).
    expect(t.config.jwt.jwksUrl ?? t.config.serviceJwt.jwksUrl).toBeUndefined();
    expect((await ask(port, H1, token)).status).toBe(200);
    expect((await ask(port, H1, token)).status).toBe(200);

    expect((await reloadWith(withIds({ 3: [ORG] }))).ok).toBe(true);
    expect(await ask(port, H1, token)).toMatchObject({ status: 403, code: 'TENANT_MISMATCH' });
    expect(await ask(port, H2, token)).toMatchObject({ status: 200, viewer: { tenantId: 3 } });

    expect((await reloadWith(withIds({}))).ok).toBe(true);
    expect(await ask(port, H1, token)).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
    expect(await ask(port, H2, token)).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
  });

  it('a file with a bad external id changes nothing and lists every problem', async () => {
    expect((await reloadWith(withIds({ 2: [ORG] }))).ok).toBe(true);
    const status = await reloadWith(withIds({ 2: [ORG, ''], 3: [ORG] }));
    expect(status.ok).toBe(false);
    expect(status.problems).toEqual([
      'tenants[1].externalIds[1]: must be a non-empty string of at most 255 characters, without control characters',
      `tenants[2].externalIds[0]: duplicate "${ORG}" (first in tenants[1])`,
    ]);
    expect(await ask(port, H1, token)).toMatchObject({ status: 200, viewer: { tenantId: 2 } });
  });

  it('ends an open subscription whose external id moved to another tenant', async () => {
    expect((await reloadWith(withIds({ 2: [ORG] }))).ok).toBe(true);
    const gql = async (query: string, variables: object = {}) => {
      const res = await t.gql(H1, query, { token, variables });
      expect(res.body.errors).toBeUndefined();
      return res.body.data!;
    };
    const project = (await gql('mutation { createProject(input: { name: "P" }) { id } }')).createProject.id;
    const sub = await subscribe(t.app, H1, 'subscription { taskChanged { kind } }', { token });
    try {
      expect(sub.status).toBe(200);
      await gql('mutation($p: ID!) { createTask(input: { projectId: $p, title: "T" }) { id } }', {
        p: project,
      });
      expect(await sub.next()).toEqual({ data: { taskChanged: { kind: 'CREATED' } } });

      expect((await reloadWith(withIds({ 3: [ORG] }))).ok).toBe(true);
      expect(await sub.next()).toEqual({
        errors: [{ message: expect.any(String), extensions: { code: 'TENANT_MISMATCH' } }],
      });
      expect(await sub.ended(3_000)).toBe(true);
    } finally {
      await sub.close();
    }
  });
});

describe('tenantql token under JWT_TENANT_FROM=group', () => {
  const env = { JWT_TENANT_FROM: 'group', JWT_TENANT_GROUP_PREFIX: 'tenant:' };
  let t: TestApp;
  let port: number;
  beforeAll(async () => {
    t = await TestApp.start({ env });
    port = await t.listen();
  });
  afterAll(() => t.close());

  const token = (tenant: string) =>
    tenantqlInProcess(['token', '--tenant', tenant, '--sub', 'alice'], {
      ...env,
      TENANTS_FILE: t.tenantsFile,
      JWT_SECRET: TEST_JWT_SECRET,
      SERVICE_JWT_SECRET: TEST_SERVICE_SECRET,
    });

  it("signs a token carrying the tenant's group, which the server accepts on its host only", async () => {
    for (const tenant of ['tenant1', '2']) {
      const { code, stdout } = await token(tenant);
      expect(code).toBe(0);
      expect(await ask(port, H1, stdout.trim())).toMatchObject({ status: 200, viewer: { tenantId: 2 } });
      expect(await ask(port, H2, stdout.trim())).toMatchObject({ status: 403, code: 'TENANT_MISMATCH' });
    }
  });

  it('refuses a tenant id the file does not have: a group names a subdomain', async () => {
    const { code, stderr } = await token('4242');
    expect(code).toBe(1);
    expect(stderr).toMatch(/^tenantql token: no tenant "4242"/);
  });
});
