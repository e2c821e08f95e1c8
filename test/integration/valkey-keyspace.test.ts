import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEY_PATTERN, keys } from '../../src/cache/keyspace.js';
import { CACHE_HEADER } from '../../src/pipeline/plugins/use-response-cache.js';
import { defaultTenants, TestApp } from '../helpers/app.js';
import { subscribe, waitForSubscribers } from '../helpers/instances.js';
import { keyspaceViolations } from '../helpers/keyspace-audit.js';
import { dumpKeys, sharedValkeyUrl } from '../helpers/valkey.js';

const url = sharedValkeyUrl(1);
/** Tenant 20 next to tenant 2: `{t2}:*` must never reach `{t20}:…` (catalogue E3). */
const tenants = {
  ...defaultTenants,
  tenants: [...defaultTenants.tenants, { id: 20, subdomain: 'twenty', name: 'Twenty' }],
};
const HOSTS: Record<number, string> = {
  2: 'tenant1.localhost',
  3: 'tenant2.localhost',
  20: 'twenty.localhost',
};
const LIST = '{ projects(first: 50) { edges { node { name } } } viewer { subject } }';
/** Names that are glob, hash-tag or separator syntax, to show none of them reaches a key (E4). */
const AWKWARD = ['*', '?', '[a-z]', 'a:b', '\\', '{x}', '{t3}:x'];

let t: TestApp;
let redis: Redis;
const canary: Record<number, string> = {};
const tokens: Record<number, string> = {};

beforeAll(async () => {
  redis = new Redis(url);
  await redis.flushdb();
  t = await TestApp.start({ valkeyUrl: url, tenants });
  for (const id of [2, 3, 20]) {
    canary[id] = `CANARY-${id}-${randomBytes(6).toString('hex')}`;
    tokens[id] = await t.token(id, `subject-${canary[id]}`);
    for (const name of [canary[id], ...AWKWARD]) {
      const res = await t.gql(
        HOSTS[id]!,
        'mutation($n: String!) { createProject(input: { name: $n }) { id } }',
        {
          token: tokens[id],
          variables: { n: name },
        },
      );
      expect(res.body.errors).toBeUndefined();
    }
  }
  // Use everything that writes to Valkey: cache entries, rate-limit counters, events.
  for (const id of [2, 3, 20]) {
    await t.gql(HOSTS[id]!, LIST, { token: tokens[id] });
    expect((await t.gql(HOSTS[id]!, LIST, { token: tokens[id] })).headers.get(CACHE_HEADER)).toBe('hit');
  }
  const sub = await subscribe(t.app, HOSTS[2]!, 'subscription { taskChanged { kind } }', {
    token: tokens[2],
  });
  await waitForSubscribers(redis, '{t2}:events:tasks');
  await sub.close();
});
afterAll(async () => {
  await t?.close();
  redis?.disconnect();
});

describe('the Valkey keyspace', () => {
  it('holds only {t<ID>}: and {sys}: keys, and under {tA} no data of tenant B', async () => {
    const all = await dumpKeys(redis);
    expect(all.length).toBeGreaterThan(0);
    for (const { key } of all) expect(key).toMatch(KEY_PATTERN);

    for (const owner of [2, 3, 20]) {
      const own = all.filter(({ key }) => key.startsWith(`{t${owner}}:`));
      const text = own.map(({ key, value }) => `${key} ${value}`).join('\n');
      expect(text).toContain(canary[owner]); // the check can see data at all…
      for (const other of [2, 3, 20].filter((id) => id !== owner)) {
        expect(text).not.toContain(canary[other]); // …and sees none of another tenant's
      }
      // No user input in key names: subjects and project names appear only hashed or as values.
      for (const { key } of own) expect(key).not.toMatch(/CANARY|\[a-z\]|\{x\}|a:b/);
    }
  });

  it("invalidating tenant 2 leaves tenant 20's entries alone", async () => {
    const mutation = await t.gql(HOSTS[2]!, 'mutation { createProject(input: { name: "more" }) { id } }', {
      token: tokens[2],
    });
    expect(mutation.body.errors).toBeUndefined();
    expect((await t.gql(HOSTS[2]!, LIST, { token: tokens[2] })).headers.get(CACHE_HEADER)).toBe('miss');
    expect((await t.gql(HOSTS[20]!, LIST, { token: tokens[20] })).headers.get(CACHE_HEADER)).toBe('hit');
    expect(await redis.exists(keys.cacheEntries(20))).toBe(1);
  });

  it('has no key outside the keyspace in any database of the shared server so far', async () => {
    expect(await keyspaceViolations(url.replace(/\/\d+$/, ''))).toEqual([]);
  });
});
