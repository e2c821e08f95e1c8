import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValkeyClient } from '../../src/cache/client.js';
import type { EventBus } from '../../src/cache/events.js';
import { channels } from '../../src/cache/keyspace.js';
import { silentLogger } from '../../src/observability/logger.js';
import { defaultTenants, TestApp } from '../helpers/app.js';
import { type Peer, startPeer, subscribe, waitForSubscribers } from '../helpers/instances.js';
import { OwnServer } from '../helpers/valkey.js';

// A server of this file's own: pub/sub channels are not per database, and this file asserts
// which channels exist (it also runs in the pgbouncer project, beside its direct twin).
let valkey: OwnServer;
const A = 'tenant1.localhost'; // tenant 2
const B = 'tenant2.localhost'; // tenant 3
const SUBSCRIPTION = `subscription($p: ID) { taskChanged(projectId: $p) {
  kind taskId task { title status project { name } } } }`;
const CREATE_PROJECT = 'mutation($n: String!) { createProject(input: { name: $n }) { id } }';
const CREATE_TASK =
  'mutation($p: ID!, $t: String!) { createTask(input: { projectId: $p, title: $t }) { id } }';

let t: TestApp;
let peer: Peer;
let redis: Redis;
let tokenA: string;
let tokenB: string;
let projectA: string;
let projectB: string;

async function mutate(app: TestApp | Peer, host: string, token: string, query: string, variables: object) {
  const res = await app.gql(host, query, { token, variables });
  expect(res.body.errors).toBeUndefined();
  return Object.values(res.body.data!)[0] as any;
}

beforeAll(async () => {
  valkey = await OwnServer.start();
  redis = new Redis(valkey.url);
  t = await TestApp.start({ valkeyUrl: valkey.url });
  peer = await startPeer(t);
  [tokenA, tokenB] = await Promise.all([t.token(2), t.token(3)]);
  projectA = (await mutate(t, A, tokenA, CREATE_PROJECT, { n: 'PA' })).id;
  projectB = (await mutate(t, B, tokenB, CREATE_PROJECT, { n: 'PB' })).id;
});
afterAll(async () => {
  await peer?.close();
  await t?.close();
  redis?.disconnect();
  await valkey?.stop();
});

describe('task events across instances', () => {
  it("delivers a mutation on instance 1 to a subscriber on instance 2, and never tenant B's events to A", async () => {
    const sub = await subscribe(peer.app, A, SUBSCRIPTION, { token: tokenA });
    expect(sub.status).toBe(200);
    try {
      await waitForSubscribers(redis, channels.events(2, 'tasks'));
      // Only tenant A's channel is subscribed: B's events are not even sent to this instance.
      // (Every instance also listens on the server-wide {sys}:placements, SPEC §11, and on the
      // sessions channel of each tenant whose user tokens it has served: revokeSessions.)
      expect(await redis.pubsub('CHANNELS', '{t*}:events:tasks')).toEqual([channels.events(2, 'tasks')]);
      expect(await redis.pubsub('CHANNELS', '{sys}:*')).toEqual([channels.placements()]);

      await mutate(t, B, tokenB, CREATE_TASK, { p: projectB, t: 'secret of B' });
      const created = await mutate(t, A, tokenA, CREATE_TASK, { p: projectA, t: 'task of A' });
      const event = await sub.next();
      expect(event).toEqual({
        data: {
          taskChanged: {
            kind: 'CREATED',
            taskId: created.id,
            task: { title: 'task of A', status: 'TODO', project: { name: 'PA' } },
          },
        },
      });
      await mutate(
        t,
        A,
        tokenA,
        'mutation($id: ID!) { updateTask(input: { id: $id, status: DONE }) { id } }',
        {
          id: created.id,
        },
      );
      expect((await sub.next()).data.taskChanged).toMatchObject({
        kind: 'UPDATED',
        task: { status: 'DONE' },
      });
      await mutate(t, A, tokenA, 'mutation($id: ID!) { deleteTask(id: $id) }', { id: created.id });
      expect((await sub.next()).data.taskChanged).toEqual({
        kind: 'DELETED',
        taskId: created.id,
        task: null,
      });
      expect(await sub.quiet(300)).toBe(true);
    } finally {
      await sub.close();
    }
    // The instance unsubscribes once its last local listener is gone.
    await expect
      .poll(async () => redis.pubsub('NUMSUB', channels.events(2, 'tasks')))
      .toEqual([channels.events(2, 'tasks'), 0]);
  });

  it('filters by project, sends nothing for a rolled-back mutation, and one DELETED per cascaded task', async () => {
    const other = (await mutate(t, A, tokenA, CREATE_PROJECT, { n: 'other' })).id;
    const sub = await subscribe(t.app, A, SUBSCRIPTION, { token: tokenA, variables: { p: projectA } });
    try {
      await waitForSubscribers(redis, channels.events(2, 'tasks'));
      await mutate(t, A, tokenA, CREATE_TASK, { p: other, t: 'elsewhere' });
      // Two fields, the second fails: the request rolls back and its first task never existed.
      const failed = await t.gql(
        A,
        `mutation($p: ID!) { a: createTask(input: { projectId: $p, title: "rolled back" }) { id }
           b: createTask(input: { projectId: "bm9wZQ", title: "x" }) { id } }`,
        { token: tokenA, variables: { p: projectA } },
      );
      expect(failed.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
      expect(await sub.quiet(300)).toBe(true);

      const kept = await mutate(t, A, tokenA, CREATE_TASK, { p: projectA, t: 'kept' });
      expect((await sub.next()).data.taskChanged).toMatchObject({ kind: 'CREATED', taskId: kept.id });
      // The event's read ran in its own short transaction: nothing is left checked out.
      expect(t.pool.totalCount - t.pool.idleCount).toBe(0);

      const second = await mutate(t, A, tokenA, CREATE_TASK, { p: projectA, t: 'second' });
      await sub.next();
      await mutate(t, A, tokenA, 'mutation($id: ID!) { deleteProject(id: $id) }', { id: projectA });
      const deleted = [await sub.next(), await sub.next()].map((e) => e.data.taskChanged);
      expect(deleted.map((e) => e.kind)).toEqual(['DELETED', 'DELETED']);
      expect(deleted.map((e) => e.taskId).sort()).toEqual([kept.id, second.id].sort());
    } finally {
      await sub.close();
    }
  });

  it('ends the stream when its tenant is disabled by a reload', async () => {
    const sub = await subscribe(peer.app, B, SUBSCRIPTION, { token: tokenB });
    try {
      await waitForSubscribers(redis, channels.events(3, 'tasks'));
      await t.writeTenants({
        ...defaultTenants,
        tenants: defaultTenants.tenants.map((x) => (x.id === 3 ? { ...x, disabled: true } : x)),
      });
      await t.registry.reload();
      // No mutation can run on a disabled tenant's host; an event still arrives, e.g. from a peer
      // that has not reloaded yet.
      await t.valkey!.events.publish(3, 'tasks', { kind: 'DELETED', taskId: '1', projectId: '1' });
      expect(await sub.ended(3_000)).toBe(true);
    } finally {
      await sub.close();
      await t.writeTenants(defaultTenants);
      await t.registry.reload();
    }
  });

  it('never hands a new subscriber an event published before it subscribed', async () => {
    // Events travel on the subscriber connection; one published (and acknowledged) just before
    // a second subscriber joins may still be on its way when it joins. Tenant 4's channel.
    const bus: EventBus = t.valkey!.events;
    const event = (taskId: string) => ({ kind: 'CREATED' as const, taskId, projectId: '1' });
    for (let round = 1; round <= 5; round++) {
      const first = bus.subscribe(4, 'tasks');
      const firstEvent = first.next();
      await waitForSubscribers(redis, channels.events(4, 'tasks'));
      await bus.publish(4, 'tasks', event(`${round}01`));
      const second = bus.subscribe(4, 'tasks');
      const secondEvent = second.next(); // joins now, while the first event may be in flight
      expect((await firstEvent).value).toEqual(event(`${round}01`));
      await new Promise((resolve) => setTimeout(resolve, 20));
      await bus.publish(4, 'tasks', event(`${round}02`));
      expect((await secondEvent).value, `round ${round}`).toEqual(event(`${round}02`));
      await first.return?.();
      await second.return?.();
      // The UNSUBSCRIBE is sent without waiting: let it land, or the next round's check for a
      // subscriber could see this round's and publish before the next SUBSCRIBE.
      await expect.poll(async () => (await redis.pubsub('NUMSUB', channels.events(4, 'tasks')))[1]).toBe(0);
    }
  });

  it('refuses anonymous subscribers', async () => {
    const sub = await subscribe(t.app, A, SUBSCRIPTION);
    try {
      const first = await sub.next();
      expect(first.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    } finally {
      await sub.close();
    }
  });

  it('keeps every subscription made while its subscriber connection is still connecting', async () => {
    // A SUBSCRIBE sent between the TCP connect and `ready` (a tenant's first user token sends
    // one) used to fail the connection's ready check, and ioredis then dropped the connection
    // with every subscription: {sys}:placements too (cache/client.ts, subscriber()).
    const client = (await ValkeyClient.connect(
      { valkeyUrl: valkey.url, valkeyClusterNodes: undefined },
      silentLogger,
    ))!;
    try {
      const subscriber = client.subscriber();
      let closes = 0;
      subscriber.on('close', () => closes++);
      const early = subscriber.subscribe('test:early'); // queued: not connected yet
      const inWindow = new Promise((resolve, reject) =>
        subscriber.once('connect', () => subscriber.subscribe('test:in-window').then(resolve, reject)),
      );
      await Promise.all([early, inWindow]);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(subscriber.status).toBe('ready');
      expect(closes).toBe(0);
      expect(await redis.pubsub('NUMSUB', 'test:early', 'test:in-window')).toEqual([
        'test:early',
        1,
        'test:in-window',
        1,
      ]);
    } finally {
      await client.quit();
    }
  });
});
