import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../src/cache/keyspace.js';
import { leaseSize } from '../../src/cache/rate-limit.js';
import { startValkeyServices, type ValkeyServices } from '../../src/cache/services.js';
import { silentLogger } from '../../src/logger.js';
import { defaultTenants, TestApp } from '../helpers/app.js';
import { type Peer, startPeer } from '../helpers/instances.js';
import { sharedValkeyUrl } from '../helpers/valkey.js';

const url = sharedValkeyUrl(3);
const QUERY = '{ tenant { id } }';

const tenants = {
  ...defaultTenants,
  tenants: defaultTenants.tenants.map((tenant) =>
    tenant.id === 2
      ? { ...tenant, rateLimit: { requests: 3, perSeconds: 60 } }
      : tenant.id === 4
        ? { ...tenant, rateLimit: { requests: 2, perSeconds: 1 } }
        : tenant,
  ),
};

let t: TestApp;
let peer: Peer;
let redis: Redis;

beforeAll(async () => {
  redis = new Redis(url);
  await redis.flushdb();
  t = await TestApp.start({ valkeyUrl: url, tenants });
  peer = await startPeer(t);
});
afterAll(async () => {
  await peer?.close();
  await t?.close();
  redis?.disconnect();
});

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
      expect(over.body.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
      expect(over.body.data).toBeUndefined();
      const retryAfter = Number(over.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
    }
    expect(Number(await redis.get(keys.rateLimit(2, 60)))).toBe(5);
    const ttl = await redis.ttl(keys.rateLimit(2, 60));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60);
  });

  it('limits before the token is checked, and only the tenant over its limit', async () => {
    const badToken = await t.gql('tenant1.localhost', QUERY, { headers: { authorization: 'Bearer junk' } });
    expect(badToken.status).toBe(429);
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
});

describe('rate-limit leases', () => {
  // Two limiters are two instances: each takes leases from the same Valkey window.
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

  it('are 1 % of the limit, at most 100, and 1 below 200 requests, so small limits stay exact', () => {
    expect(
      [3, 199, 200, 600, 10_000, 1e9].map((requests) => leaseSize({ requests, perSeconds: 60 })),
    ).toEqual([1, 1, 2, 6, 100, 100]);
  });

  it('cost one round trip per lease: concurrent requests wait for the refill in flight', async () => {
    const limit = { requests: 100_000, perSeconds: 60 };
    const [one] = instances;
    const first = await Promise.all(Array.from({ length: 50 }, () => one!.rateLimiter.consume(20, limit)));
    expect(first.every((d) => d.allowed)).toBe(true);
    expect(Number(await redis.get(keys.rateLimit(20, 60)))).toBe(100); // one lease for all 50
    for (let i = 0; i < 100; i++) expect((await one!.rateLimiter.consume(20, limit)).allowed).toBe(true);
    expect(Number(await redis.get(keys.rateLimit(20, 60)))).toBe(200); // 150 used: two leases
  });

  it('are dropped when a reload changes the limit: the new limit applies at once', async () => {
    const [one] = instances;
    expect((await one!.rateLimiter.consume(22, { requests: 1_000, perSeconds: 60 })).allowed).toBe(true);
    // The lease still holds 9 requests, but under a limit the window has already passed.
    expect((await one!.rateLimiter.consume(22, { requests: 5, perSeconds: 60 })).allowed).toBe(false);
    expect(Number(await redis.get(keys.rateLimit(22, 60)))).toBe(11);
  });

  it('allow exactly the limit across instances, then refuse without asking Valkey', async () => {
    const limit = { requests: 1_000, perSeconds: 60 }; // leases of 10
    let allowed = 0;
    let refused = 0;
    for (let i = 0; i < 1_200; i++) {
      const decision = await instances[i % 2]!.rateLimiter.consume(21, limit);
      if (decision.allowed) allowed++;
      else {
        refused++;
        expect(decision.retryAfterSeconds).toBeGreaterThanOrEqual(1);
        expect(decision.retryAfterSeconds).toBeLessThanOrEqual(60);
      }
    }
    expect(allowed).toBe(1_000);
    expect(refused).toBe(200);
    // Each instance asked once more, was refused, and from then on refused locally.
    expect(Number(await redis.get(keys.rateLimit(21, 60)))).toBe(1_020);
  });
});
