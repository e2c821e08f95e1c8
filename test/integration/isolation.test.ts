import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeGlobalId } from '../../src/graphql/ids.js';
import { TestApp } from '../helpers/app.js';
import { withClient } from '../helpers/db.js';
import { tenantRowsSnapshot } from '../helpers/snapshot.js';

// SPEC §5 and §7: tenant A's rows do not exist for tenant B, through any query or mutation.
const A = 'tenant1.localhost'; // id 2
const B = 'tenant2.localhost'; // id 3

let t: TestApp;
let tokenA: string;
let tokenB: string;
/** A's rows, as created through A. */
const a = { member: '', project: '', task: '' };
/** B's own rows, so B's mutations have something valid to combine A's ids with. */
const b = { project: '', task: '' };
/** Ids of B's rows that never existed. */
const never = {
  member: encodeGlobalId('Member', 3, '999999'),
  project: encodeGlobalId('Project', 3, '999999'),
  task: encodeGlobalId('Task', 3, '999999'),
};

async function ok<T = any>(host: string, query: string, token: string, variables?: object): Promise<T> {
  const res = await t.gql<T>(host, query, { token, ...(variables ? { variables } : {}) });
  expect(res.body.errors).toBeUndefined();
  expect(res.status).toBe(200);
  return res.body.data!;
}

/** Every tenant row, read as superuser (no RLS): proof that nothing moved. */
const superuserSnapshot = () => tenantRowsSnapshot(t.db.superuserUrl);

const VIEW_A = `query($p: ID!, $t: ID!) {
  projects { totalCount edges { node { id name tasks { totalCount edges { node { id title status assignee { id name email } } } } } } }
  members { totalCount edges { node { id name email tasks { totalCount edges { node { id title } } } } } }
  project(id: $p) { name } task(id: $t) { title project { name } }
}`;

beforeAll(async () => {
  t = await TestApp.start();
  tokenA = await t.token(2);
  tokenB = await t.token(3);
  const m = await ok(
    A,
    'mutation { createMember(input: { name: "Alice A", email: "alice@a.test" }) { id } }',
    tokenA,
  );
  a.member = m.createMember.id;
  const p = await ok(A, 'mutation { createProject(input: { name: "A secret project" }) { id } }', tokenA);
  a.project = p.createProject.id;
  const created = await ok(
    A,
    'mutation($p: ID!, $m: ID) { createTask(input: { projectId: $p, title: "A secret task", assigneeId: $m, status: IN_PROGRESS }) { id } }',
    tokenA,
    { p: a.project, m: a.member },
  );
  a.task = created.createTask.id;
  const bp = await ok(B, 'mutation { createProject(input: { name: "B project" }) { id } }', tokenB);
  b.project = bp.createProject.id;
  const bt = await ok(
    B,
    'mutation($p: ID!) { createTask(input: { projectId: $p, title: "B task" }) { id } }',
    tokenB,
    { p: b.project },
  );
  b.task = bt.createTask.id;
});
afterAll(() => t.close());

describe('reads: A is invisible to B', () => {
  it('B lists only its own projects, members and nested tasks', async () => {
    const data = await ok(B, VIEW_A, tokenB, { p: a.project, t: a.task });
    expect(data.projects.totalCount).toBe(1);
    expect(data.projects.edges).toEqual([
      {
        node: {
          id: b.project,
          name: 'B project',
          tasks: {
            totalCount: 1,
            edges: [{ node: { id: b.task, title: 'B task', status: 'TODO', assignee: null } }],
          },
        },
      },
    ]);
    expect(data.members).toEqual({ totalCount: 0, edges: [] });
    expect(data.project).toBeNull();
    expect(data.task).toBeNull();
    expect(JSON.stringify(data)).not.toMatch(/secret|alice/i);
  });

  it('node(id) of A’s Project, Task and Member is null in B, exactly like an id that never existed', async () => {
    const query = 'query($id: ID!) { node(id: $id) { __typename id } }';
    for (const [id, missing] of [
      [a.project, never.project],
      [a.task, never.task],
      [a.member, never.member],
    ] as const) {
      const seen = await t.gql(B, query, { token: tokenB, variables: { id } });
      const absent = await t.gql(B, query, { token: tokenB, variables: { id: missing } });
      expect(seen.body).toEqual({ data: { node: null } });
      expect({ status: seen.status, body: seen.body }).toEqual({ status: absent.status, body: absent.body });
      // …while A sees its own row under the same id.
      expect((await ok(A, query, tokenA, { id })).node.id).toBe(id);
    }
  });

  it('A still sees everything it wrote', async () => {
    const data = await ok(A, VIEW_A, tokenA, { p: a.project, t: a.task });
    expect(data.projects.totalCount).toBe(1);
    expect(data.projects.edges[0].node.tasks.edges[0].node.assignee).toEqual({
      id: a.member,
      name: 'Alice A',
      email: 'alice@a.test',
    });
    expect(data.members.edges[0].node.tasks).toEqual({
      totalCount: 1,
      edges: [{ node: { id: a.task, title: 'A secret task' } }],
    });
    expect(data.task).toEqual({ title: 'A secret task', project: { name: 'A secret project' } });
  });
});

describe('writes: B naming A’s ids fails exactly like ids that never existed', () => {
  const cases: [name: string, query: string, withA: () => object, withNever: () => object][] = [
    [
      'updateProject',
      'mutation($id: ID!) { updateProject(input: { id: $id, name: "hacked" }) { id name } }',
      () => ({ id: a.project }),
      () => ({ id: never.project }),
    ],
    [
      'deleteProject',
      'mutation($id: ID!) { deleteProject(id: $id) }',
      () => ({ id: a.project }),
      () => ({ id: never.project }),
    ],
    [
      'updateTask',
      'mutation($id: ID!) { updateTask(input: { id: $id, title: "hacked", status: DONE }) { id title } }',
      () => ({ id: a.task }),
      () => ({ id: never.task }),
    ],
    [
      'updateTask (own task, A’s assignee)',
      'mutation($id: ID!, $m: ID) { updateTask(input: { id: $id, assigneeId: $m }) { id assignee { name } } }',
      () => ({ id: b.task, m: a.member }),
      () => ({ id: b.task, m: never.member }),
    ],
    [
      'deleteTask',
      'mutation($id: ID!) { deleteTask(id: $id) }',
      () => ({ id: a.task }),
      () => ({ id: never.task }),
    ],
    [
      'createTask (A’s projectId)',
      'mutation($p: ID!) { createTask(input: { projectId: $p, title: "injected" }) { id } }',
      () => ({ p: a.project }),
      () => ({ p: never.project }),
    ],
    [
      'createTask (own project, A’s assigneeId)',
      'mutation($p: ID!, $m: ID) { createTask(input: { projectId: $p, title: "injected", assigneeId: $m }) { id } }',
      () => ({ p: b.project, m: a.member }),
      () => ({ p: b.project, m: never.member }),
    ],
  ];

  it.each(cases)(
    '%s: NOT_FOUND, same status, code and message; A unchanged',
    async (_name, query, withA, withNever) => {
      const before = await superuserSnapshot();
      const seen = await t.gql(B, query, { token: tokenB, variables: withA() });
      const absent = await t.gql(B, query, { token: tokenB, variables: withNever() });
      expect(seen.body.errors?.map((e) => e.extensions?.code)).toEqual(['NOT_FOUND']);
      expect(seen.body.data).toBeNull();
      expect({ status: seen.status, body: seen.body }).toEqual({ status: absent.status, body: absent.body });
      // No constraint name, table, column or value leaks.
      expect(JSON.stringify(seen.body)).not.toMatch(/fkey|constraint|tenant_id|violates|app\.|99999|Key \(/i);
      expect(await superuserSnapshot()).toEqual(before);
    },
  );

  it('A reads its rows unchanged afterwards', async () => {
    const data = await ok(A, VIEW_A, tokenA, { p: a.project, t: a.task });
    expect(data.project).toEqual({ name: 'A secret project' });
    expect(data.projects.edges[0].node.tasks.edges).toEqual([
      {
        node: {
          id: a.task,
          title: 'A secret task',
          status: 'IN_PROGRESS',
          assignee: { id: a.member, name: 'Alice A', email: 'alice@a.test' },
        },
      },
    ]);
    const rows = await withClient(
      t.db.superuserUrl,
      async (c) =>
        (await c.query('SELECT tenant_id, count(*)::int AS n FROM app.tasks GROUP BY tenant_id ORDER BY 1'))
          .rows,
    );
    expect(rows).toEqual([
      { tenant_id: 2, n: 1 },
      { tenant_id: 3, n: 1 },
    ]);
  });
});
