import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_JWT_SECRET, TestApp } from '../helpers/app.js';

// SPEC §6, user tokens: every bad token ends the request before GraphQL with an exact status and
// code, and touches no database.
const HOST = 'tenant1.localhost'; // tenant 2
const key = new TextEncoder().encode(TEST_JWT_SECRET);
const now = () => Math.floor(Date.now() / 1000);
const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

let t: TestApp;
beforeAll(async () => {
  t = await TestApp.start();
});
afterAll(() => t.close());

/** A token with exactly these claims and header, signed with `secret`. */
function sign(
  claims: Record<string, unknown>,
  options: { secret?: string; alg?: string; header?: Record<string, unknown> } = {},
): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: options.alg ?? 'HS256', ...options.header })
    .sign(options.secret ? new TextEncoder().encode(options.secret) : key);
}

const valid = () => ({ sub: 'alice', tid: 2, iat: now(), exp: now() + 3600 });

async function ask(authorization: string) {
  const before = t.queries;
  const res = await t.gql(HOST, '{ viewer { kind subject tenantId } }', { headers: { authorization } });
  expect(t.queries).toBe(before);
  return res;
}

async function expectRefused(authorization: string, status: number, code: string): Promise<void> {
  const res = await ask(authorization);
  expect(res.status).toBe(status);
  expect(res.body).toEqual({ errors: [{ message: expect.any(String), extensions: { code } }] });
}

describe('valid user tokens', () => {
  it('a well-formed token for this tenant is a USER', async () => {
    const res = await ask(`Bearer ${await sign(valid())}`);
    expect(res).toMatchObject({
      status: 200,
      body: { data: { viewer: { kind: 'USER', subject: 'alice', tenantId: 2 } } },
    });
  });

  it('accepts the tenant claim as a numeric string, and the scheme in any case', async () => {
    const res = await ask(`bearer ${await sign({ ...valid(), tid: '2' })}`);
    expect(res.body.data?.viewer).toEqual({ kind: 'USER', subject: 'alice', tenantId: 2 });
  });
});

describe('bad tokens are 401 UNAUTHENTICATED', () => {
  it.each<[string, () => Promise<string>]>([
    ['expired', () => sign({ ...valid(), iat: now() - 7200, exp: now() - 3600 })],
    ['bad signature (other secret)', () => sign(valid(), { secret: 'another-secret-0123456789abcdef!!' })],
    [
      'tampered payload (signature of another payload)',
      async () => {
        const [header, , signature] = (await sign(valid())).split('.');
        return `${header}.${b64({ ...valid(), tid: 2, sub: 'admin' })}.${signature}`;
      },
    ],
    ['alg: none, empty signature', async () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64(valid())}.`],
    ['alg: none, no signature part', async () => `${b64({ alg: 'none' })}.${b64(valid())}`],
    ['HS512 with the right secret (algorithm not allowed)', () => sign(valid(), { alg: 'HS512' })],
    ['missing sub', () => sign({ tid: 2, exp: now() + 3600 })],
    ['empty sub', () => sign({ ...valid(), sub: '' })],
    ['missing exp', () => sign({ sub: 'alice', tid: 2, iat: now() })],
    ['missing tenant claim', () => sign({ sub: 'alice', exp: now() + 3600 })],
    ['tenant claim not an id', () => sign({ ...valid(), tid: 'tenant1' })],
    ['not yet valid (nbf in an hour)', () => sign({ ...valid(), nbf: now() + 3600 })],
    ['not a JWT', async () => 'not-a-jwt'],
    ['three garbage segments', async () => 'a.b.c'],
  ])('%s', async (_name, make) => {
    await expectRefused(`Bearer ${await make()}`, 401, 'UNAUTHENTICATED');
  });
});

describe('malformed Authorization headers are 401 UNAUTHENTICATED', () => {
  it.each([
    ['scheme only', 'Bearer'],
    ['scheme and spaces', 'Bearer    '],
    ['unknown scheme', 'Basic dXNlcjpwYXNz'],
    ['token without scheme', 'eyJhbGciOiJIUzI1NiJ9.e30.x'],
    ['two credentials', 'Bearer a.b.c d.e.f'],
  ])('%s', async (_name, header) => {
    const res = await ask(header);
    expect(res.status).toBe(401);
    expect(res.body.errors?.map((e) => e.extensions?.code)).toEqual(['UNAUTHENTICATED']);
    expect(res.body.data).toBeUndefined();
  });
});

describe('another tenant’s token', () => {
  it('a valid token of tenant 3 on tenant 2’s host is 403 TENANT_MISMATCH', async () => {
    await expectRefused(`Bearer ${await sign({ ...valid(), tid: 3 })}`, 403, 'TENANT_MISMATCH');
    await expectRefused(`Bearer ${await t.token(3)}`, 403, 'TENANT_MISMATCH');
  });

  it('…and the same token works on its own host, including the custom domain', async () => {
    const token = await sign({ ...valid(), tid: 3 });
    for (const host of ['tenant2.localhost', 'graphql.tenant-two.test']) {
      const res = await t.gql(host, '{ viewer { kind tenantId } }', { token });
      expect(res.body).toEqual({ data: { viewer: { kind: 'USER', tenantId: 3 } } });
    }
  });

  it('a token of an unknown tenant id is 403 TENANT_MISMATCH, not a way in', async () => {
    await expectRefused(`Bearer ${await sign({ ...valid(), tid: 4242 })}`, 403, 'TENANT_MISMATCH');
  });

  it('a bad token on an unknown host still gets the host answer first', async () => {
    const res = await t.gql('evil.test', '{ viewer { kind } }', {
      headers: { authorization: 'Bearer junk' },
    });
    expect(res.status).toBe(404);
    expect(res.body.errors?.[0]?.extensions?.code).toBe('TENANT_NOT_FOUND');
  });
});
