import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestApp } from '../helpers/app.js';
import { withClient } from '../helpers/db.js';

// SPEC §6 API keys: created once with their secret shown, stored hashed, looked up only in the
// host tenant's RLS scope, revocable. tenant1.localhost is tenant 2, tenant2.localhost tenant 3.
const CREATE =
  'mutation($n: String!) { createApiKey(input: { name: $n }) { secret apiKey { id name createdAt } } }';
const VIEWER = '{ viewer { kind subject tenantId actorTenantId } }';

let t: TestApp;
let userToken: string;
beforeAll(async () => {
  t = await TestApp.start();
  userToken = await t.token(2, 'alice');
});
afterAll(() => t.close());

async function createKey(name = 'ci') {
  const res = await t.gql('tenant1.localhost', CREATE, { token: userToken, variables: { n: name } });
  expect(res.body.errors).toBeUndefined();
  return res.body.data!.createApiKey as { secret: string; apiKey: { id: string; name: string } };
}

const withKey = (host: string, key: string, query = VIEWER, variables?: object) =>
  t.gql(host, query, { headers: { authorization: `ApiKey ${key}` }, variables });

const refused = (res: Awaited<ReturnType<typeof withKey>>) => ({
  status: res.status,
  code: res.body.errors?.[0]?.extensions?.code,
  data: res.body.data,
});
const UNAUTHENTICATED = { status: 401, code: 'UNAUTHENTICATED', data: undefined };

describe('API keys', () => {
  it('authenticate on their own tenant as API_KEY', async () => {
    const { secret, apiKey } = await createKey('deploy bot');
    expect(secret).toMatch(/^tql_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    expect(apiKey.name).toBe('deploy bot');
    const res = await withKey('tenant1.localhost', secret);
    expect(res.status).toBe(200);
    expect(res.body.data!.viewer).toEqual({
      kind: 'API_KEY',
      subject: `apikey:${Buffer.from(apiKey.id, 'base64url').toString().split(':').at(-1)}`,
      tenantId: 2,
      actorTenantId: null,
    });
    // …and can do what the tenant's API offers.
    const project = await withKey(
      'tenant1.localhost',
      secret,
      'mutation { createProject(input: { name: "via key" }) { name } }',
    );
    expect(project.body).toEqual({ data: { createProject: { name: 'via key' } } });
  });

  it('are unknown (401) on every other host: another tenant, a custom domain of it, admin, virtual', async () => {
    const { secret } = await createKey();
    for (const host of [
      'tenant2.localhost',
      'graphql.tenant-two.test',
      'tenant3.localhost',
      'admin.localhost',
      'reports.localhost',
    ]) {
      expect({ host, ...refused(await withKey(host, secret)) }).toEqual({ host, ...UNAUTHENTICATED });
    }
  });

  it('refuse a wrong secret behind a real prefix, and malformed keys, alike', async () => {
    const { secret } = await createKey();
    const prefix = secret.slice(0, 17); // tql_ + 12 hex + _
    const tail = secret.slice(17);
    const flipped = `${prefix}${tail[0] === 'A' ? 'B' : 'A'}${tail.slice(1)}`;
    for (const key of [
      flipped,
      `${prefix}${'A'.repeat(43)}`,
      secret.slice(0, -1),
      `${secret}x`,
      'tql_',
      'nonsense',
    ]) {
      expect({ key, ...refused(await withKey('tenant1.localhost', key)) }).toEqual({
        key,
        ...UNAUTHENTICATED,
      });
    }
  });

  it('stop working on the next request after revokeApiKey', async () => {
    const { secret, apiKey } = await createKey('short-lived');
    expect((await withKey('tenant1.localhost', secret)).status).toBe(200);
    const revoke = await t.gql('tenant1.localhost', 'mutation($id: ID!) { revokeApiKey(id: $id) }', {
      token: userToken,
      variables: { id: apiKey.id },
    });
    expect(revoke.body).toEqual({ data: { revokeApiKey: true } });
    expect(refused(await withKey('tenant1.localhost', secret))).toEqual(UNAUTHENTICATED);
    const list = await t.gql(
      'tenant1.localhost',
      '{ apiKeys(first: 100) { edges { node { id revokedAt } } } }',
      {
        token: userToken,
      },
    );
    const listed = list.body.data!.apiKeys.edges.find((e: any) => e.node.id === apiKey.id);
    expect(listed.node.revokedAt).toEqual(expect.any(String));
  });

  it("another tenant cannot revoke or list a tenant's keys", async () => {
    const { secret, apiKey } = await createKey();
    const other = await t.token(3);
    const revoke = await t.gql('tenant2.localhost', 'mutation($id: ID!) { revokeApiKey(id: $id) }', {
      token: other,
      variables: { id: apiKey.id },
    });
    expect(revoke.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const list = await t.gql('tenant2.localhost', '{ apiKeys { totalCount } }', { token: other });
    expect(list.body.data).toEqual({ apiKeys: { totalCount: 0 } });
    expect((await withKey('tenant1.localhost', secret)).status).toBe(200);
  });

  it('are created and revoked by users only, not by services or other keys', async () => {
    const { secret } = await createKey();
    const service = await t.serviceToken(81);
    for (const auth of [{ token: service }, { headers: { authorization: `ApiKey ${secret}` } }]) {
      const res = await t.gql('tenant1.localhost', CREATE, { ...auth, variables: { n: 'escalate' } });
      expect(res.body.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
    }
  });

  it('are stored as a SHA-256 of the secret, never the secret itself', async () => {
    const { secret } = await createKey('hashed');
    const [, prefix, encoded] = /^tql_([0-9a-f]{12})_(.+)$/.exec(secret)!;
    const rows = await withClient(
      t.db.superuserUrl,
      async (c) =>
        (
          await c.query(
            "SELECT row_to_json(k)::text AS json, secret_hash FROM app.api_keys k WHERE name = 'hashed'",
          )
        ).rows,
    );
    expect(rows).toHaveLength(1);
    const { json, secret_hash } = rows[0];
    expect(json).not.toContain(encoded);
    expect(json).not.toContain(secret);
    expect(json).not.toContain(Buffer.from(encoded!, 'base64url').toString('hex'));
    expect(json).toContain(prefix);
    expect(secret_hash).toEqual(createHash('sha256').update(Buffer.from(encoded!, 'base64url')).digest());
  });
});
