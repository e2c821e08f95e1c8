import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channels } from '../../src/cache/keyspace.js';
import { CACHE_HEADER } from '../../src/pipeline/plugins/use-response-cache.js';
import { defaultTenants, TestApp } from '../helpers/app.js';
import { subscribe } from '../helpers/instances.js';
import { dumpKeys, OwnCluster } from '../helpers/valkey.js';

const A = 'tenant1.localhost'; // tenant 2
const B = 'tenant2.localhost'; // tenant 3
const tenants = {
  ...defaultTenants,
  tenants: defaultTenants.tenants.map((x) =>
    x.id === 3 ? { ...x, rateLimit: { requests: 3, perSeconds: 60 } } : x,
  ),
};

let cluster: OwnCluster;
let t: TestApp;
let tokenA: string;

beforeAll(async () => {
  cluster = await OwnCluster.start();
  t = await TestApp.start({
    valkeyUrl: `redis://${cluster.nodes[0]}`,
    env: { VALKEY_CLUSTER_NODES: cluster.nodes.join(',') },
    tenants,
  });
  tokenA = await t.token(2);
}, 60_000);
afterAll(async () => {
  await t?.close();
  await cluster?.stop();
});

describe('cluster mode (VALKEY_CLUSTER_NODES)', () => {
  it('caches, limits and delivers events on a three-node cluster', async () => {
    expect(t.valkey!.state()).toBe('ready');
    const query = '{ projects { totalCount } }';
    expect((await t.gql(A, query, { token: tokenA })).headers.get(CACHE_HEADER)).toBe('miss');
    expect((await t.gql(A, query, { token: tokenA })).headers.get(CACHE_HEADER)).toBe('hit');

    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await t.gql(B, '{ tenant { id } }')).status);
    expect(statuses).toEqual([200, 200, 200, 429]);

    const sub = await subscribe(t.app, A, 'subscription { taskChanged { kind task { title } } }', {
      token: tokenA,
    });
    const nodes = [0, 1, 2].map((i) => cluster.node(i));
    try {
      // Classic pub/sub in a cluster: the subscription lives on one node, PUBLISH reaches all.
      const deadline = Date.now() + 5_000;
      const subscribers = async () => {
        let n = 0;
        for (const node of nodes)
          n += Number(((await node.pubsub('NUMSUB', channels.events(2, 'tasks'))) as [string, number])[1]);
        return n;
      };
      while ((await subscribers()) < 1) {
        if (Date.now() > deadline) throw new Error('no subscriber');
        await new Promise((r) => setTimeout(r, 20));
      }
      const p = await t.gql(A, 'mutation { createProject(input: { name: "p" }) { id } }', { token: tokenA });
      await t.gql(
        A,
        'mutation($p: ID!) { createTask(input: { projectId: $p, title: "clustered" }) { id } }',
        {
          token: tokenA,
          variables: { p: p.body.data!.createProject.id },
        },
      );
      expect((await sub.next()).data.taskChanged).toEqual({ kind: 'CREATED', task: { title: 'clustered' } });
      // The mutation invalidated tenant 2's entries in its slot.
      expect((await t.gql(A, query, { token: tokenA })).headers.get(CACHE_HEADER)).toBe('miss');

      // Every key of one tenant is in that tenant's slot, on one node.
      const byTenant = new Map<string, Set<string>>();
      for (const [i, node] of nodes.entries()) {
        for (const { key } of await dumpKeys(node)) {
          const tenant = /^\{(t\d+)\}:/.exec(key)?.[1];
          expect(tenant).toBeDefined();
          const slot = String(await node.cluster('KEYSLOT', key));
          expect(slot).toBe(String(await node.cluster('KEYSLOT', `{${tenant}}`)));
          byTenant.set(tenant!, (byTenant.get(tenant!) ?? new Set()).add(`node${i} slot${slot}`));
        }
      }
      expect(byTenant.get('t2')?.size).toBe(1);
      expect(byTenant.get('t3')?.size).toBe(1);
    } finally {
      await sub.close();
      for (const node of nodes) node.disconnect();
    }
  });
});
