import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../src/cache/keyspace.js';
import { createLogger, silentLogger } from '../../src/observability/logger.js';
import { CACHE_HEADER } from '../../src/pipeline/plugins/use-response-cache.js';
import { TestApp } from '../helpers/app.js';
import { type Peer, startPeer } from '../helpers/instances.js';
import { sharedValkeyUrl } from '../helpers/valkey.js';

const url = sharedValkeyUrl(2);
const A = 'tenant1.localhost'; // tenant 2
const B = 'tenant2.localhost'; // tenant 3
const PROJECTS = '{ projects(first: 10) { edges { node { name } } } }';
const names = (res: { body: { data?: any } }) =>
  res.body.data.projects.edges.map((e: { node: { name: string } }) => e.node.name);

/** The app's JSON log lines. */
const log = {
  text: '',
  write(chunk: string) {
    this.text += chunk;
  },
  requestLine(requestId: string): Record<string, unknown> | undefined {
    return this.text
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line))
      .find((line) => line.msg === 'request' && line.requestId === requestId);
  },
};

let t: TestApp;
let peer: Peer;
let redis: Redis;
let tokenA: string;
let tokenB: string;

beforeAll(async () => {
  redis = new Redis(url);
  await redis.flushdb();
  t = await TestApp.start({
    valkeyUrl: url,
    env: { CACHE_TTL_SECONDS: '30' },
    logger: createLogger({ level: 'info', pretty: false, destination: log }),
  });
  peer = await startPeer(t);
  [tokenA, tokenB] = await Promise.all([t.token(2), t.token(3)]);
  for (const [host, token, name] of [
    [A, tokenA, 'alpha-of-A'],
    [B, tokenB, 'beta-of-B'],
  ] as const) {
    const res = await t.gql(host, 'mutation($n: String!) { createProject(input: { name: $n }) { id } }', {
      token,
      variables: { n: name },
    });
    expect(res.body.errors).toBeUndefined();
  }
});
afterAll(async () => {
  await peer?.close();
  await t?.close();
  redis?.disconnect();
});

describe('response cache', () => {
  it('serves the same query to two tenants, each its own data, both from the cache', async () => {
    const first = [await t.gql(A, PROJECTS, { token: tokenA }), await t.gql(B, PROJECTS, { token: tokenB })];
    expect(first.map((r) => r.headers.get(CACHE_HEADER))).toEqual(['miss', 'miss']);
    const queriesBefore = t.queries;
    const second = [await t.gql(A, PROJECTS, { token: tokenA }), await t.gql(B, PROJECTS, { token: tokenB })];
    expect(second.map((r) => r.headers.get(CACHE_HEADER))).toEqual(['hit', 'hit']);
    expect(t.queries).toBe(queriesBefore); // a hit borrows no connection
    expect(names(second[0]!)).toEqual(['alpha-of-A']);
    expect(names(second[1]!)).toEqual(['beta-of-B']);
  });

  it('answers a hit with the bytes the miss sent, alone and inside a batch', async () => {
    const post = async (body: unknown) => {
      const response = await t.app.fetch(`http://${A}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', host: A, authorization: `Bearer ${tokenA}` },
        body: JSON.stringify(body),
      });
      return {
        cache: response.headers.get(CACHE_HEADER),
        type: response.headers.get('content-type'),
        text: await response.text(),
      };
    };
    const query = '{ projects(first: 3) { edges { node { name createdAt } } } }';
    const miss = await post({ query });
    const hit = await post({ query });
    expect([miss.cache, hit.cache]).toEqual(['miss', 'hit']);
    expect(hit.text).toBe(miss.text);
    expect(hit.type).toBe(miss.type);
    expect(JSON.parse(hit.text).data.projects.edges[0].node.name).toBe('alpha-of-A');

    await post({ query: '{ tenant { id } }' });
    const batch = await post([{ query }, { query: '{ tenant { id } }' }, { query }]);
    expect(batch.cache).toBe('hit');
    expect(batch.text).toBe(`[${miss.text},{"data":{"tenant":{"id":2}}},${miss.text}]`);
  });

  it('writes a hit into event streams and multipart answers as it wrote the miss', async () => {
    const query = '{ projects(first: 1) { edges { node { name } } } }';
    const ask = async (accept: string) => {
      const response = await t.app.fetch(`http://${A}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept, host: A, authorization: `Bearer ${tokenA}` },
        body: JSON.stringify({ query }),
      });
      return { cache: response.headers.get(CACHE_HEADER), text: await response.text() };
    };
    const miss = await ask('application/json');
    const body = '{"data":{"projects":{"edges":[{"node":{"name":"alpha-of-A"}}]}}}';
    expect(miss).toEqual({ cache: 'miss', text: body });
    const sse = await ask('text/event-stream');
    expect(sse.cache).toBe('hit');
    expect(sse.text).toContain(`event: next\ndata: ${body}\n\n`);
    const multipart = await ask('multipart/mixed');
    expect(multipart.cache).toBe('hit');
    expect(multipart.text).toContain(`Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}\r\n`);
  });

  it('serves a text it knows before parsing it, logged as its operation, keyed by schema and limits', async () => {
    const query = 'query Names { projects(first: 2) { edges { node { name } } } }';
    await t.gql(A, query, { token: tokenA });
    const hit = await t.gql(A, query, { token: tokenA, headers: { 'x-request-id': 'early-hit' } });
    expect(hit.headers.get(CACHE_HEADER)).toBe('hit');
    expect(names(hit)).toEqual(['alpha-of-A']);
    expect(log.requestLine('early-hit')).toMatchObject({
      operationType: 'query',
      operationName: 'Names',
      outcome: 'ok',
      status: 200,
    });

    // An instance with other limits (a deploy that changed them) never reads those entries.
    const limits = { ...t.config.limits, maxDepth: t.config.limits.maxDepth + 1 };
    const other = await startPeer(t, silentLogger, { ...t.config, limits });
    try {
      expect((await other.gql(A, query, { token: tokenA })).headers.get(CACHE_HEADER)).toBe('miss');
      expect((await other.gql(A, query, { token: tokenA })).headers.get(CACHE_HEADER)).toBe('hit');
    } finally {
      await other.close();
    }
  });

  it('invalidates the mutating tenant only, on every instance', async () => {
    await t.gql(A, PROJECTS, { token: tokenA });
    await t.gql(B, PROJECTS, { token: tokenB });
    const created = await peer.gql(A, 'mutation { createProject(input: { name: "second-of-A" }) { id } }', {
      token: tokenA,
    });
    expect(created.body.errors).toBeUndefined();

    const a = await t.gql(A, PROJECTS, { token: tokenA });
    expect(a.headers.get(CACHE_HEADER)).toBe('miss');
    expect(names(a)).toEqual(['alpha-of-A', 'second-of-A']);
    const b = await t.gql(B, PROJECTS, { token: tokenB });
    expect(b.headers.get(CACHE_HEADER)).toBe('hit');
    expect(names(b)).toEqual(['beta-of-B']);
  });

  it('keys entries by viewer: another user and an anonymous caller do not share them', async () => {
    const query = '{ viewer { kind subject } tenant { id } }';
    await t.gql(A, query, { token: tokenA });
    const mine = await t.gql(A, query, { token: tokenA });
    expect(mine.headers.get(CACHE_HEADER)).toBe('hit');
    const other = await t.gql(A, query, { token: await t.token(2, 'someone-else') });
    expect(other.headers.get(CACHE_HEADER)).toBe('miss');
    expect(other.body.data).toEqual({ viewer: { kind: 'USER', subject: 'someone-else' }, tenant: { id: 2 } });
    const anonymous = await t.gql(A, query);
    expect(anonymous.headers.get(CACHE_HEADER)).toBe('miss');
    expect(anonymous.body.data!.viewer).toEqual({ kind: 'ANONYMOUS', subject: null });
  });

  it('keys entries by variables and does not cache errors, mutations or introspection', async () => {
    const query = 'query($n: Int) { projects(first: $n) { totalCount } }';
    await t.gql(A, query, { token: tokenA, variables: { n: 1 } });
    expect((await t.gql(A, query, { token: tokenA, variables: { n: 2 } })).headers.get(CACHE_HEADER)).toBe(
      'miss',
    );

    const failing = '{ projects(first: 1000) { totalCount } }';
    const first = await t.gql(A, failing, { token: tokenA });
    expect(first.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect((await t.gql(A, failing, { token: tokenA })).headers.get(CACHE_HEADER)).toBe('miss');

    const introspection = await t.gql(A, '{ __schema { queryType { name } } }', { token: tokenA });
    expect(introspection.headers.get(CACHE_HEADER)).toBeNull();
    const mutation = await t.gql(A, 'mutation { createProject(input: { name: "m" }) { id } }', {
      token: tokenA,
    });
    expect(mutation.headers.get(CACHE_HEADER)).toBeNull();
  });

  it('treats a garbled or foreign value as a miss, never a crash or another tenant’s data', async () => {
    await t.gql(A, PROJECTS, { token: tokenA });
    await t.gql(B, PROJECTS, { token: tokenB });
    const entriesA = keys.cacheEntries(2);
    const entriesB = keys.cacheEntries(3);
    const [fieldA] = await redis.hkeys(entriesA);
    const [valueB] = await redis.hvals(entriesB);
    expect(fieldA && valueB).toBeTruthy();
    // Tenant B's entry planted under tenant A's key, as a bug or an attacker might, with A's
    // generation set to the entry's: only the tenant recorded in the value can tell.
    for (const field of await redis.hkeys(entriesA)) await redis.hset(entriesA, field, valueB!);
    await redis.set(keys.cacheGeneration(2), valueB!.split(':')[1]!);
    const planted = await t.gql(A, PROJECTS, { token: tokenA });
    expect(planted.headers.get(CACHE_HEADER)).toBe('miss');
    expect(names(planted)).not.toContain('beta-of-B');

    for (const field of await redis.hkeys(entriesA)) await redis.hset(entriesA, field, '{"t":2,"g":"x');
    await redis.set(keys.cacheGeneration(2), 'not-a-number');
    const garbled = await t.gql(A, PROJECTS, { token: tokenA });
    expect(garbled.status).toBe(200);
    expect(names(garbled)).toContain('alpha-of-A');
    await redis.del(keys.cacheGeneration(2));
  });

  it('gives every entry hash a TTL no longer than CACHE_TTL_SECONDS', async () => {
    await t.gql(A, PROJECTS, { token: tokenA });
    const ttl = await redis.ttl(keys.cacheEntries(2));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(30);
  });

  it('does not serve an entry stored by a query that raced a mutation', async () => {
    const cache = t.valkey!.cache!;
    const field = 'race-probe';
    const lookup = await cache.lookup(2, field);
    expect(lookup.hit).toBe(false);
    await cache.invalidate(2); // a mutation commits while the query runs
    if (!lookup.hit) lookup.store?.('{"data":{"stale":true}}');
    await new Promise((r) => setTimeout(r, 50));
    expect(await redis.hget(keys.cacheEntries(2), field)).not.toBeNull(); // stored…
    expect((await cache.lookup(2, field)).hit).toBe(false); // …but never served
  });

  it('looks a request up once, whether the text is new or known (adds a row: runs late)', async () => {
    const misses = async () => {
      const response = await t.app.fetch('http://localhost/metrics', { headers: { host: 'localhost' } });
      const line = (await response.text())
        .split('\n')
        .find((l) => l.startsWith('tenantql_cache_lookups_total{result="miss"}'));
      return Number(line?.split(' ')[1] ?? 0);
    };
    const query = '{ projects(first: 4) { totalCount } }';
    let before = await misses();
    await t.gql(A, query, { token: tokenA }); // a new text: looked up in onExecute
    expect(await misses()).toBe(before + 1);
    await t.gql(A, 'mutation { createProject(input: { name: "lookups" }) { id } }', { token: tokenA });
    before = await misses();
    await t.gql(A, query, { token: tokenA }); // a known text, its entry invalidated: onParams only
    expect(await misses()).toBe(before + 1);
  });

  it("serves this instance's copy only while Valkey still holds the same entry (runs late: adds rows)", async () => {
    const query = '{ projects(first: 30) { edges { node { name } } } }';
    const entries = keys.cacheEntries(2);
    await t.gql(A, query, { token: tokenA }); // miss: stored, with a copy on this instance
    const [field] = (await redis.hkeys(entries)).filter((f) => !f.endsWith(':tag') && f !== 'race-probe');
    expect(field).toBeTruthy();
    // The body in Valkey is not read while the tag matches: the copy answers.
    for (const f of await redis.hkeys(entries))
      if (!f.endsWith(':tag')) await redis.hset(entries, f, 'not read');
    const fromCopy = await t.gql(A, query, { token: tokenA });
    expect(fromCopy.headers.get(CACHE_HEADER)).toBe('hit');
    expect(names(fromCopy)).toContain('alpha-of-A');

    // Another instance's mutation and newer entry: the tag changes, this instance reads anew.
    await peer.gql(A, 'mutation { createProject(input: { name: "copy-1" }) { id } }', { token: tokenA });
    await peer.gql(A, query, { token: tokenA });
    const newer = await t.gql(A, query, { token: tokenA });
    expect(newer.headers.get(CACHE_HEADER)).toBe('hit');
    expect(names(newer)).toContain('copy-1');

    // Valkey loses everything and the generation comes back to the same number: no tag, no copy.
    const generation = await redis.get(keys.cacheGeneration(2));
    await redis.flushdb();
    await peer.gql(A, 'mutation { createProject(input: { name: "copy-2" }) { id } }', { token: tokenA });
    await redis.set(keys.cacheGeneration(2), generation!);
    const afterFlush = await t.gql(A, query, { token: tokenA });
    expect(afterFlush.headers.get(CACHE_HEADER)).toBe('miss');
    expect(names(afterFlush)).toContain('copy-2');
  });

  it('never serves a mutation text from the cache, however often it is sent (runs last: it adds rows)', async () => {
    const mutation = 'mutation { createProject(input: { name: "repeat" }) { name } }';
    for (let i = 0; i < 3; i++) {
      const res = await t.gql(A, mutation, { token: tokenA });
      expect(res.headers.get(CACHE_HEADER)).toBeNull();
      expect(res.body.data).toEqual({ createProject: { name: 'repeat' } });
    }
    const list = await t.gql(A, '{ projects(first: 50) { totalCount } }', { token: tokenA });
    const count = (list.body.data as { projects: { totalCount: number } }).projects.totalCount;
    await t.gql(A, mutation, { token: tokenA });
    const after = await t.gql(A, '{ projects(first: 50) { totalCount } }', { token: tokenA });
    expect(after.headers.get(CACHE_HEADER)).toBe('miss');
    expect((after.body.data as { projects: { totalCount: number } }).projects.totalCount).toBe(count + 1);
  });
});

describe('a batch with a mutation', () => {
  const C = 'tenant3.localhost'; // tenant 4, untouched by the tests above
  const COUNT = '{ projects { totalCount } }';
  const CREATE = 'mutation($n: String!) { createProject(input: { name: $n }) { name } }';
  const batch = async (token: string, items: unknown[]) => {
    const response = await t.app.fetch(`http://${C}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', host: C, authorization: `Bearer ${token}` },
      body: JSON.stringify(items),
    });
    return { status: response.status, body: (await response.json()) as any[] };
  };
  const total = (item: any) => item.data.projects.totalCount as number;

  it('answers a query after the mutation with its writes, never from an entry made before it', async () => {
    const token = await t.token(4);
    // A cached answer exists for the query text: 0 projects.
    await t.gql(C, COUNT, { token });
    expect((await t.gql(C, COUNT, { token })).headers.get(CACHE_HEADER)).toBe('hit');

    const [created, after] = (
      await batch(token, [{ query: CREATE, variables: { n: 'one' } }, { query: COUNT }])
    ).body;
    expect(created.data).toEqual({ createProject: { name: 'one' } });
    expect(total(after)).toBe(1);

    // In order: a query before the mutation sees the state before it, the one after sees it.
    const answers = (
      await batch(token, [
        { query: COUNT },
        { query: CREATE, variables: { n: 'two' } },
        { query: COUNT },
        { query: COUNT },
      ])
    ).body;
    expect(answers.map((a) => a.errors)).toEqual([undefined, undefined, undefined, undefined]);
    expect([total(answers[0]), total(answers[2]), total(answers[3])]).toEqual([1, 2, 2]);
  });

  it('runs every operation even when one of them is malformed or fails', async () => {
    const token = await t.token(4);
    const answers = (
      await batch(token, [
        { query: CREATE, variables: { n: '' } }, // BAD_USER_INPUT: writes nothing
        { query: 123 },
        { query: '{ nope }' },
        { query: CREATE, variables: { n: 'three' } },
        { query: COUNT },
      ])
    ).body;
    expect(answers).toHaveLength(5);
    expect(answers[0].errors[0].extensions.code).toBe('BAD_USER_INPUT');
    expect(answers[1].errors).toHaveLength(1);
    expect(answers[2].errors[0].extensions.code).toBe('BAD_USER_INPUT');
    expect(answers[3].data).toEqual({ createProject: { name: 'three' } });
    expect(total(answers[4])).toBe(3);
  });
});
