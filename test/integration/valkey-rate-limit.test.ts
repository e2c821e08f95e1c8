import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSegment, keys } from '../../src/cache/keyspace.js';
import { startValkeyServices, type ValkeyServices } from '../../src/cache/services.js';
import { silentLogger } from '../../src/observability/logger.js';
import { defaultTenants, TestApp } from '../helpers/app.js';
import { type Peer, startPeer } from '../helpers/instances.js';
import { sharedValkeyUrl } from '../helpers/valkey.js';

const url = sharedValkeyUrl(3);
const QUERY = '{ tenant { id } }';

// tenant 2: 3 a minute; tenant 4: 2 a second; tenants 3 and 5: 600 a minute (the default), for
// failed credentials and the concurrency test over HTTP.
const tenants = {
  ...defaultTenants,
  tenants: [
    ...defaultTenants.tenants.map((tenant) =>
      tenant.id === 2
        ? { ...tenant, rateLimit: { requests: 3, perSeconds: 60 } }
        : tenant.id === 4
          ? { ...tenant, rateLimit: { requests: 2, perSeconds: 1 } }
          : tenant,
    ),
    { id: 5, subdomain: 'tenant4', name: 'Tenant Four' },
  ],
};

let t: TestApp;
let peer: Peer;
let redis: Redis;

beforeAll(async () => {
  redis = new Redis(url);
  await redis.flushdb();
  // Behind a trusted proxy, so tests can speak from several client addresses (X-Forwarded-For).
  t = await TestApp.start({ valkeyUrl: url, tenants, env: { TRUST_PROXY: '1', AUTH_FAILURE_LIMIT: '5' } });
  peer = await startPeer(t);
});
afterAll(async () => {
  await peer?.close();
  await t?.close();
  redis?.disconnect();
});

const from = (address: string) => ({ 'x-forwarded-for': address });
const codeOf = (res: { body: { errors?: { extensions?: { code?: string } }[] } }) =>
  res.body.errors?.[0]?.extensions?.code;

describe('rate limits', () => {
  it('answers 429 RATE_LIMITED with Retry-After over the limit, counting across instances', async () => {
    const statuses = [
      (await t.gql('tenant1.localhost', QUERY)).status,
      (await peer.gql('tenant1.localhost', QUERY)).status,
      (await t.gql('tenant1.localhost', QUERY)).status,
    ];
    expect(statuses).toEqual([200, 200, 200]);

    for (const over of [
      await peer.gql('tenant1.localhost', QUERY),
      await t.gql('tenant1.localhost', QUERY),
    ]) {
      expect(over.status).toBe(429);
      // The same body whether the verdict came from Valkey (the query text already cached on
      // this instance: the refusal must win over the hit) or from the instance's own memory.
      expect(over.body).toEqual({
        errors: [{ message: 'Too many requests for this tenant.', extensions: { code: 'RATE_LIMITED' } }],
      });
      const retryAfter = Number(over.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
    }
    // Both instances asked once past the limit, then refused locally.
    expect(Number(await redis.get(keys.rateLimit(2, 60)))).toBe(5);
    const ttl = await redis.ttl(keys.rateLimit(2, 60));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60);
  });

  it('limits only the tenant over its limit', async () => {
    const other = await t.gql('tenant2.localhost', QUERY);
    expect(other.status).toBe(200);
    expect(other.body.data).toEqual({ tenant: { id: 3 } });
  });

  it('opens a new window when the old one ends', async () => {
    const host = 'tenant3.localhost'; // tenant 4: 2 requests a second
    expect((await t.gql(host, QUERY)).status).toBe(200);
    expect((await t.gql(host, QUERY)).status).toBe(200);
    const over = await t.gql(host, QUERY);
    expect(over.status).toBe(429);
    expect(over.headers.get('retry-after')).toBe('1');
    const deadline = Date.now() + 3_000;
    let status = 429;
    while (status === 429 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      status = (await t.gql(host, QUERY)).status;
    }
    expect(status).toBe(200);
  });

  it('is exact with two instances and 500 concurrent requests: all of a 600 window, then only what is left', async () => {
    const host = 'tenant4.localhost'; // tenant 5: 600 a minute
    const burst = async () => {
      const answers = await Promise.all(
        Array.from({ length: 500 }, (_, i) => (i % 2 ? peer : t).gql(host, QUERY)),
      );
      return answers.map((a) => a.status);
    };
    const first = await burst();
    expect(first.filter((s) => s !== 200)).toEqual([]);
    const second = await burst();
    expect(second.filter((s) => s === 200)).toHaveLength(100);
    expect(second.filter((s) => s === 429)).toHaveLength(400);
  });
});

describe('failed credentials', () => {
  it("never spend the tenant's budget: 30 garbage tokens, and its real users are still served", async () => {
    const host = 'tenant3.localhost'; // tenant 4, 2 a second: wait for a fresh window
    await new Promise((r) => setTimeout(r, 1_100));
    for (let i = 0; i < 30; i++) {
      // From 30 addresses, each under its own failure limit.
      const res = await t.gql(host, QUERY, {
        headers: { authorization: 'Bearer garbage', ...from(`10.1.0.${i}`) },
      });
      expect(res.status).toBe(401);
    }
    const token = await t.token(4);
    expect((await t.gql(host, QUERY, { token })).status).toBe(200);
    expect((await t.gql(host, QUERY, { token })).status).toBe(200);
    expect((await t.gql(host, QUERY, { token })).status).toBe(429); // its own budget, as before
  });

  it('are limited per client address and tenant (AUTH_FAILURE_LIMIT), across instances', async () => {
    const host = 'tenant2.localhost';
    const attacker = from('10.2.0.1');
    const badKey = {
      authorization: 'ApiKey tql_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      ...attacker,
    };
    const statuses = [];
    for (let i = 0; i < 7; i++)
      statuses.push((await (i % 2 ? peer : t).gql(host, QUERY, { headers: badKey })).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429]);

    const token = await t.token(3);
    // Past the limit, the address's credentials are not even checked, valid ones included...
    const valid = await t.gql(host, QUERY, { token, headers: attacker });
    expect(valid.status).toBe(429);
    expect(codeOf(valid)).toBe('RATE_LIMITED');
    expect(valid.body.errors?.[0]?.message).toMatch(/failed credentials/);
    // ... but another address is served, and fails on its own count,
    expect((await t.gql(host, QUERY, { token, headers: from('10.2.0.2') })).status).toBe(200);
    expect(
      (await t.gql(host, QUERY, { headers: { authorization: 'Bearer x', ...from('10.2.0.2') } })).status,
    ).toBe(401);
    // and the same address on another tenant's host has a bucket of its own.
    const elsewhere = await t.gql('tenant1.localhost', QUERY, {
      headers: { authorization: 'Bearer x', ...attacker },
    });
    expect(elsewhere.status).toBe(401);

    // The counter is in the tenant's keyspace, under a hash of the address, never the address.
    const key = keys.authFailures(3, hashSegment('10.2.0.1'), 60);
    expect(key.startsWith('{t3}:')).toBe(true);
    // 5 failures, then one refusal on each instance (the peer's, then this one's): from then on
    // both refuse the address without asking.
    expect(Number(await redis.get(key))).toBe(7);
    expect(await redis.keys('*10.2.0.1*')).toEqual([]);
  });
});

describe('the limiter under concurrency, two instances', () => {
  let instances: ValkeyServices[];
  beforeAll(async () => {
    const config = { valkeyUrl: url, valkeyClusterNodes: undefined, cacheTtlSeconds: 0 };
    instances = [
      await startValkeyServices(config, silentLogger),
      await startValkeyServices(config, silentLogger),
    ];
  });
  afterAll(async () => {
    for (const instance of instances ?? []) await instance.close();
  });

  /** `count` concurrent requests of `tenantId`, spread over both instances; the number allowed. */
  async function burst(tenantId: number, limit: { requests: number; perSeconds: number }, count: number) {
    const decisions = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        instances[i % 2]!.rateLimiter.consume({ kind: 'tenant', tenantId }, limit),
      ),
    );
    return decisions.filter((d) => d.allowed).length;
  }

  it('never refuses before the window is used, and never allows past it', async () => {
    for (const requests of [100, 250, 600, 1_000]) {
      const tenantId = 30 + requests;
      const limit = { requests, perSeconds: 60 };
      let allowed = 0;
      for (let round = 0; round < 4; round++) {
        const got = await burst(tenantId, limit, 500);
        // Each burst gets everything the window still has, up to its size.
        expect(got).toBe(Math.min(500, requests - allowed));
        allowed += got;
      }
      expect(allowed).toBe(requests);
    }
  });

  it('refuses a full window without asking Valkey, and applies a changed limit at once', async () => {
    const [one] = instances;
    const bucket = { kind: 'tenant', tenantId: 40 } as const;
    for (let i = 0; i < 3; i++)
      expect((await one!.rateLimiter.consume(bucket, { requests: 3, perSeconds: 60 })).allowed).toBe(true);
    expect((await one!.rateLimiter.consume(bucket, { requests: 3, perSeconds: 60 })).allowed).toBe(false);
    for (let i = 0; i < 10; i++)
      expect((await one!.rateLimiter.consume(bucket, { requests: 3, perSeconds: 60 })).allowed).toBe(false);
    expect(Number(await redis.get(keys.rateLimit(40, 60)))).toBe(4); // the flood cost one round trip
    // A reload raising the limit: the instance asks again, and the window's count decides.
    expect((await one!.rateLimiter.consume(bucket, { requests: 10, perSeconds: 60 })).allowed).toBe(true);
    // ... lowering it below what was used: refused.
    expect((await one!.rateLimiter.consume(bucket, { requests: 2, perSeconds: 60 })).allowed).toBe(false);
  });
});
