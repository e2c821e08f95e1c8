import { afterAll, beforeAll, expect, it } from 'vitest';
import { TestApp } from '../helpers/app.js';
import { type Subscription, subscribe } from '../helpers/instances.js';

// Each subscription event runs a short transaction per subscriber. Those must not take the
// slots of the tenant's ordinary requests (found by the property test: with enough open
// subscriptions, every task change made the tenant's own requests RATE_LIMITED).
const HOST = 'tenant1.localhost';
const SUBSCRIBERS = 20;

let t: TestApp;
let token: string;
const subscriptions: Subscription[] = [];

beforeAll(async () => {
  // A small pool: 4 connections and the default reserve.
  t = await TestApp.start({ env: { PG_POOL_MAX: '4' } });
  token = await t.token(2);
});
afterAll(async () => {
  await Promise.all(subscriptions.map((s) => s.close()));
  await t.close();
});

it("keeps serving a tenant's requests while its subscribers receive events", async () => {
  const project = await t.gql(HOST, 'mutation { createProject(input: { name: "P" }) { id } }', { token });
  const projectId = project.body.data!.createProject.id;
  for (let i = 0; i < SUBSCRIBERS; i++) {
    subscriptions.push(
      await subscribe(t.app, HOST, 'subscription { taskChanged { kind task { title project { name } } } }', {
        token,
      }),
    );
  }
  for (let round = 0; round < 3; round++) {
    const writes = await Promise.all([
      t.gql(
        HOST,
        'mutation($p: ID!, $t: String!) { createTask(input: { projectId: $p, title: $t }) { id } }',
        {
          token,
          variables: { p: projectId, t: `task-${round}` },
        },
      ),
      t.gql(HOST, '{ projects { totalCount } }', { token }),
      t.gql(HOST, '{ members { totalCount } }', { token }),
    ]);
    for (const res of writes) expect(res.body.errors).toBeUndefined();
    const events = await Promise.all(subscriptions.map((s) => s.next(10_000)));
    for (const event of events) {
      expect(event.data.taskChanged).toEqual({
        kind: 'CREATED',
        task: { title: `task-${round}`, project: { name: 'P' } },
      });
    }
  }
});
