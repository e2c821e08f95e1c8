import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CACHE_HEADER } from '../../src/pipeline/plugins/use-response-cache.js';
import { defaultTenants, TestApp } from '../helpers/app.js';
import { subscribe, waitForSubscribers } from '../helpers/instances.js';
import { OwnServer } from '../helpers/valkey.js';

/** What a request may lose to Valkey trouble on top of its normal latency (catalogue E6). */
const BOUND_MS = 1_000;
const HOST = 'tenant1.localhost';
const LIST = '{ projects(first: 10) { edges { node { id name } } } }';
const RENAME = 'mutation($id: ID!, $n: String) { updateProject(input: { id: $id, name: $n }) { name } }';

const lines: { level: number; msg: string }[] = [];
const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
const logged = (text: string) => lines.filter((line) => line.msg.includes(text)).length;

let server: OwnServer;
let t: TestApp;
let token: string;
let projectId: string;

async function timed(query: string, variables?: object) {
  const started = performance.now();
  const res = await t.gql(HOST, query, { token, variables });
  return { res, ms: performance.now() - started };
}

async function until(check: () => boolean | Promise<boolean>, ms = 8_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  server = await OwnServer.start();
  // A tiny limit, to see that rate limits fail open while Valkey is away.
  const tenants = {
    ...defaultTenants,
    tenants: defaultTenants.tenants.map((x) =>
      x.id === 2 ? { ...x, rateLimit: { requests: 1000, perSeconds: 600 } } : x,
    ),
  };
  t = await TestApp.start({ valkeyUrl: server.url, logger, tenants });
  token = await t.token(2);
  const created = await t.gql(HOST, 'mutation { createProject(input: { name: "before" }) { id } }', {
    token,
  });
  projectId = created.body.data!.createProject.id;
});
afterAll(async () => {
  await t?.close();
  await server?.stop();
});

describe('Valkey outage', () => {
  it('keeps answering from PostgreSQL within a bound while Valkey is gone, then uses it again', async () => {
    await t.gql(HOST, LIST, { token });
    expect((await t.gql(HOST, LIST, { token })).headers.get(CACHE_HEADER)).toBe('hit');
    const sub = await subscribe(t.app, HOST, 'subscription { taskChanged { kind task { title } } }', {
      token,
    });
    const probe = new Redis(server.url);
    await waitForSubscribers(probe, '{t2}:events:tasks');
    probe.disconnect();

    await server.stop();
    const slowest: number[] = [];
    for (let i = 0; i < 10; i++) {
      const read = await timed(LIST);
      const write = await timed(RENAME, { id: projectId, n: `during-${i}` });
      for (const { res, ms } of [read, write]) {
        expect(res.status).toBe(200);
        expect(res.body.errors).toBeUndefined();
        slowest.push(ms);
      }
      expect(read.res.headers.get(CACHE_HEADER)).toBe('miss');
    }
    expect(Math.max(...slowest)).toBeLessThan(BOUND_MS);
    expect(t.valkey!.state()).toBe('down');
    const ready = await t.app.fetch('http://any.host/readyz');
    expect(await ready.json()).toMatchObject({ valkey: 'down' });
    expect(logged('Valkey unavailable')).toBe(1); // one warning for the whole outage

    await server.restart();
    await until(() => t.valkey!.state() === 'ready');
    const after = await t.gql(HOST, LIST, { token });
    expect(after.body.data!.projects.edges[0].node.name).toBe('during-9'); // nothing stale
    expect((await t.gql(HOST, LIST, { token })).headers.get(CACHE_HEADER)).toBe('hit');
    expect(logged('Valkey available again')).toBe(1);

    // The subscriber connection re-subscribed by itself: events flow again.
    await until(async () => {
      const probe = new Redis(server.url);
      const [, n] = (await probe.pubsub('NUMSUB', '{t2}:events:tasks')) as [string, number];
      probe.disconnect();
      return Number(n) === 1;
    });
    await t.gql(HOST, 'mutation($p: ID!) { createTask(input: { projectId: $p, title: "back" }) { id } }', {
      token,
      variables: { p: projectId },
    });
    expect((await sub.next()).data.taskChanged).toEqual({ kind: 'CREATED', task: { title: 'back' } });
    await sub.close();
  });

  it('bounds requests while Valkey hangs, and never serves what a failed invalidation left behind', async () => {
    await t.gql(HOST, LIST, { token });
    expect((await t.gql(HOST, LIST, { token })).headers.get(CACHE_HEADER)).toBe('hit');
    const before = logged('Valkey unavailable');

    // Writes hang, reads still answer: the generation bump of this mutation cannot happen, while
    // the old entry stays readable. Serving it afterwards would be stale.
    const admin = new Redis(server.url);
    await admin.client('PAUSE', '1500', 'WRITE');
    const pausedAt = Date.now();
    const write = await timed(RENAME, { id: projectId, n: 'while-paused' });
    const read = await timed(LIST);
    for (const { res, ms } of [write, read]) {
      expect(res.body.errors).toBeUndefined();
      expect(ms).toBeLessThan(BOUND_MS);
    }
    expect(read.res.body.data!.projects.edges[0].node.name).toBe('while-paused');
    expect(logged('Valkey unavailable')).toBe(before + 1);

    admin.disconnect();
    // Past the pause, and past the client's one-second back-off after a timeout.
    await new Promise((r) => setTimeout(r, Math.max(0, pausedAt + 1_500 + 1_000 + 200 - Date.now())));
    const fresh = await t.gql(HOST, LIST, { token });
    expect(fresh.body.data!.projects.edges[0].node.name).toBe('while-paused');
    expect(fresh.headers.get(CACHE_HEADER)).toBe('miss');
    expect((await t.gql(HOST, LIST, { token })).headers.get(CACHE_HEADER)).toBe('hit');
  });
});
