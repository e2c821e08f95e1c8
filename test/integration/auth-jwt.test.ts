import { createPublicKey } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_JWT_SECRET, TEST_SERVICE_SECRET, TestApp } from '../helpers/app.js';
import { JwksServer, makeKey, type SigningKey, signWith } from '../helpers/jwks.js';
import { httpPost } from '../helpers/raw-http.js';

// SPEC §6 attack matrix, over a real socket with real Host headers. Issuer and audience are
// configured, so every "good" token carries both. tenant1.localhost is tenant 2.
const ISSUER = 'https://idp.tenantql.test';
const AUDIENCE = 'tenantql-api';
const HOST = 'tenant1.localhost';
const now = () => Math.floor(Date.now() / 1000);
const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
const bytes = (secret: string) => new TextEncoder().encode(secret);
const claims = (extra: Record<string, unknown> = {}) => ({
  sub: 'alice',
  tid: 2,
  iss: ISSUER,
  aud: AUDIENCE,
  iat: now(),
  exp: now() + 600,
  ...extra,
});
const without = (key: string) => {
  const rest: Record<string, unknown> = claims();
  delete rest[key];
  return rest;
};
const hs256 = (payload: Record<string, unknown>, secret = TEST_JWT_SECRET, header: object = {}) =>
  new SignJWT(payload).setProtectedHeader({ alg: 'HS256', ...header }).sign(bytes(secret));

interface Answer {
  status: number;
  code: string | undefined;
  viewer: { kind: string; tenantId: number; actorTenantId: number | null } | undefined;
}

/** POST `{ viewer { … } }` to 127.0.0.1:port with this Host and Authorization. */
async function ask(port: number, host: string, token: string): Promise<Answer> {
  const { status, body } = await httpPost(port, {
    host,
    headers: { authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: '{ viewer { kind tenantId actorTenantId } }' }),
  });
  return { status, code: body.errors?.[0]?.extensions?.code, viewer: body.data?.viewer };
}

describe('user and service tokens with a shared secret (HS256)', () => {
  let t: TestApp;
  let port: number;
  beforeAll(async () => {
    t = await TestApp.start({ env: { JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE } });
    port = await t.listen();
  });
  afterAll(() => t.close());

  it.each<[string, () => Promise<string>, number, string | undefined]>([
    ['a good token, tenant claim a number', () => hs256(claims()), 200, undefined],
    ['tenant claim a numeric string "2"', () => hs256(claims({ tid: '2' })), 200, undefined],
    [
      'alg: none',
      async () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims())}.`,
      401,
      'UNAUTHENTICATED',
    ],
    [
      'HS512 with the right secret',
      async () => new SignJWT(claims()).setProtectedHeader({ alg: 'HS512' }).sign(bytes(TEST_JWT_SECRET)),
      401,
      'UNAUTHENTICATED',
    ],
    [
      'expired five minutes ago',
      () => hs256(claims({ iat: now() - 900, exp: now() - 300 })),
      401,
      'UNAUTHENTICATED',
    ],
    ['nbf five minutes ahead', () => hs256(claims({ nbf: now() + 300 })), 401, 'UNAUTHENTICATED'],
    [
      'iat a day ahead',
      () => hs256(claims({ iat: now() + 86_400, exp: now() + 90_000 })),
      401,
      'UNAUTHENTICATED',
    ],
    ['exp as a string', () => hs256(claims({ exp: String(now() + 600) })), 401, 'UNAUTHENTICATED'],
    ['wrong iss', () => hs256(claims({ iss: 'https://evil.test' })), 401, 'UNAUTHENTICATED'],
    ['no iss', () => hs256(without('iss')), 401, 'UNAUTHENTICATED'],
    ['wrong aud', () => hs256(claims({ aud: 'another-api' })), 401, 'UNAUTHENTICATED'],
    ['no aud', () => hs256(without('aud')), 401, 'UNAUTHENTICATED'],
    ['no sub', () => hs256(without('sub')), 401, 'UNAUTHENTICATED'],
    ['no exp', () => hs256(without('exp')), 401, 'UNAUTHENTICATED'],
    ['no tenant claim', () => hs256(without('tid')), 401, 'UNAUTHENTICATED'],
    ['tenant claim "2.0"', () => hs256(claims({ tid: '2.0' })), 401, 'UNAUTHENTICATED'],
    ['tenant claim "02"', () => hs256(claims({ tid: '02' })), 401, 'UNAUTHENTICATED'],
    ['tenant claim 2.5', () => hs256(claims({ tid: 2.5 })), 401, 'UNAUTHENTICATED'],
    ['tenant claim [2]', () => hs256(claims({ tid: [2] })), 401, 'UNAUTHENTICATED'],
    ['tenant claim true', () => hs256(claims({ tid: true })), 401, 'UNAUTHENTICATED'],
    ['tenant claim 1 (the system tenant)', () => hs256(claims({ tid: 1 })), 403, 'TENANT_MISMATCH'],
    ['tenant claim 3 (another tenant)', () => hs256(claims({ tid: 3 })), 403, 'TENANT_MISMATCH'],
    ['user key, tenant claim 81 (a virtual id)', () => hs256(claims({ tid: 81 })), 401, 'UNAUTHENTICATED'],
    [
      'user key, tenant claim 85 (an unconfigured virtual id)',
      () => hs256(claims({ tid: 85 })),
      401,
      'UNAUTHENTICATED',
    ],
    [
      'service-shaped token (typ) signed with the user key',
      () => hs256(claims({ tid: 81 }), TEST_JWT_SECRET, { typ: 'tenantql-service+jwt' }),
      401,
      'UNAUTHENTICATED',
    ],
    [
      'user-shaped token signed with the service key',
      () => hs256(claims(), TEST_SERVICE_SECRET),
      401,
      'UNAUTHENTICATED',
    ],
    [
      'a good service token of 81 (granted tenant 2)',
      () => hs256(claims({ tid: 81, sub: 'reports' }), TEST_SERVICE_SECRET, { typ: 'tenantql-service+jwt' }),
      200,
      undefined,
    ],
    [
      'service token naming a regular tenant',
      () => hs256(claims({ tid: 2 }), TEST_SERVICE_SECRET, { typ: 'tenantql-service+jwt' }),
      401,
      'UNAUTHENTICATED',
    ],
    [
      'service typ spelled application/…, upper case, signed with the user key',
      () => hs256(claims(), TEST_JWT_SECRET, { typ: 'application/TENANTQL-SERVICE+JWT' }),
      401,
      'UNAUTHENTICATED',
    ],
    [
      'service typ spelled application/…, upper case, signed with the service key',
      () => hs256(claims({ tid: 81 }), TEST_SERVICE_SECRET, { typ: 'application/TENANTQL-SERVICE+JWT' }),
      200,
      undefined,
    ],
  ])('%s → %i %s', async (_name, make, status, code) => {
    const answer = await ask(port, HOST, await make());
    expect({ status: answer.status, code: answer.code }).toEqual({ status, code });
    if (status === 200) expect(answer.viewer?.tenantId).toBe(2);
    else expect(answer.viewer).toBeUndefined();
  });

  it('a token that verified once is checked again on every request: other hosts and tampered copies fail', async () => {
    const token = await hs256(claims({ sub: 'reused' }));
    expect((await ask(port, HOST, token)).status).toBe(200); // verified, and remembered
    expect(await ask(port, 'tenant2.localhost', token)).toMatchObject({
      status: 403,
      code: 'TENANT_MISMATCH',
    });
    const [header, , signature] = token.split('.');
    const tampered = `${header}.${b64(claims({ sub: 'reused', tid: 3 }))}.${signature}`;
    expect(await ask(port, 'tenant2.localhost', tampered)).toMatchObject({
      status: 401,
      code: 'UNAUTHENTICATED',
    });
    expect((await ask(port, HOST, token)).viewer).toEqual({ kind: 'USER', tenantId: 2, actorTenantId: null });
  });

  it('a good service token reads as SERVICE with its virtual tenant as actor', async () => {
    const token = await hs256(claims({ tid: 81, sub: 'reports' }), TEST_SERVICE_SECRET, {
      typ: 'tenantql-service+jwt',
    });
    expect((await ask(port, HOST, token)).viewer).toEqual({
      kind: 'SERVICE',
      tenantId: 2,
      actorTenantId: 81,
    });
  });
});

describe('user tokens from a JWKS (asymmetric keys only)', () => {
  let jwks: JwksServer;
  let t: TestApp;
  let port: number;
  let k1: SigningKey;
  beforeAll(async () => {
    jwks = await JwksServer.start();
    k1 = await makeKey('k1', 'RS256');
    jwks.setKeys(k1);
    // JWT_SECRET cleared: exactly one user key source.
    t = await TestApp.start({
      env: { JWT_SECRET: '', JWT_JWKS_URL: jwks.url, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE },
    });
    port = await t.listen();
  });
  afterAll(async () => {
    await t.close();
    await jwks.close();
  });

  it('accepts a token signed by a published key', async () => {
    const answer = await ask(port, HOST, await signWith(k1, claims()));
    expect(answer).toEqual({
      status: 200,
      code: undefined,
      viewer: { kind: 'USER', tenantId: 2, actorTenantId: null },
    });
  });

  it('refuses HS256 tokens signed with the public key (PEM or JWK bytes), alg none and unknown kids', async () => {
    const pem = createPublicKey({ key: k1.publicJwk as any, format: 'jwk' }).export({
      type: 'spki',
      format: 'pem',
    });
    const forged = [
      await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(bytes(String(pem))),
      await new SignJWT(claims())
        .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
        .sign(bytes(JSON.stringify(k1.publicJwk))),
      await new SignJWT(claims())
        .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
        .sign(bytes(k1.publicJwk.n!)),
      `${b64({ alg: 'none', kid: 'k1' })}.${b64(claims())}.`,
      await signWith(k1, claims(), "' OR 1=1--"),
      await signWith(k1, claims(), '../../dev/null'),
      // The user secret of the HS256 app means nothing here.
      await hs256(claims()),
    ];
    for (const token of forged) {
      expect(await ask(port, HOST, token)).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
    }
  });

  it('a flood of unknown kids fetches the JWKS at most once per cooldown', async () => {
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // let any earlier cooldown lapse
    const before = jwks.hits;
    const answers = await Promise.all(
      Array.from({ length: 40 }, async (_, i) =>
        ask(port, HOST, await signWith(k1, claims(), `random-${i}`)),
      ),
    );
    expect(answers.every((a) => a.status === 401 && a.code === 'UNAUTHENTICATED')).toBe(true);
    expect(jwks.hits - before).toBeLessThanOrEqual(1);
  });

  it('follows a rotation: a new kid is accepted, a removed key is refused', async () => {
    const k2 = await makeKey('k2', 'ES256');
    const k3 = await makeKey('k3', 'EdDSA');
    const wait = () => new Promise((resolve) => setTimeout(resolve, 1_100)); // the verifier's cooldown

    // Overlap: k2 published beside k1. Both verify.
    jwks.setKeys(k1, k2);
    await wait();
    expect((await ask(port, HOST, await signWith(k2, claims()))).status).toBe(200);
    expect((await ask(port, HOST, await signWith(k1, claims()))).status).toBe(200);

    // k1 retired, k3 added: the first k3 token refetches the set, and from then on k1 is gone.
    jwks.setKeys(k2, k3);
    await wait();
    expect((await ask(port, HOST, await signWith(k3, claims()))).status).toBe(200);
    expect(await ask(port, HOST, await signWith(k1, claims()))).toMatchObject({
      status: 401,
      code: 'UNAUTHENTICATED',
    });
    expect((await ask(port, HOST, await signWith(k2, claims()))).status).toBe(200);
  });
});
