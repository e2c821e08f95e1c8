import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../src/cache/keyspace.js';
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
