import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestApp } from '../helpers/app.js';
import { withClient } from '../helpers/db.js';

// Queries and mutations run through graphql-jit (src/pipeline/plugins/use-compiled-execution.ts), and the
// serving pool leaves timestamptz as text (src/db/pool.ts). The client must not see either:
// same timestamps, same error locations and statuses as graphql-js, and each host its own schema.
let t: TestApp;
let token: string;
beforeAll(async () => {
  t = await TestApp.start();
  token = await t.token(2, 'alice');
});
afterAll(() => t.close());

const ISO_UTC_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe('timestamps', () => {
  it('createdAt and updatedAt are ISO-8601 UTC with milliseconds, equal to the stored value', async () => {
    const project = await t.gql(
      'tenant1.localhost',
      'mutation { createProject(input: { name: "ts" }) { id createdAt } }',
      {
        token,
      },
    );
    expect(project.body.errors).toBeUndefined();
    const { id, createdAt } = project.body.data!.createProject;
    const task = await t.gql(
      'tenant1.localhost',
      'mutation($p: ID!) { createTask(input: { projectId: $p, title: "ts" }) { createdAt updatedAt } }',
      { token, variables: { p: id } },
    );
    expect(task.body.errors).toBeUndefined();
    const { createdAt: taskCreated, updatedAt } = task.body.data!.createTask;
    for (const value of [createdAt, taskCreated, updatedAt]) expect(value).toMatch(ISO_UTC_MS);

    // What PostgreSQL holds, formatted by PostgreSQL in UTC: the server must say the same.
    const stored = await withClient(t.db.superuserUrl, async (client) => {
      const { rows } = await client.query(
        `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at
           FROM app.projects WHERE tenant_id = 2 AND name = 'ts'`,
      );
      return rows.map((r) => r.at as string);
    });
    expect(stored).toEqual([createdAt]);
  });
});

describe('errors under compiled execution', () => {
  it('a field error keeps its path, locations and code', async () => {
    const res = await t.gql('tenant1.localhost', '{\n  projects(first: 1) { edges { node { name } } } }');
    expect(res.status).toBe(200);
    expect(res.body.errors).toEqual([
      expect.objectContaining({
        path: ['projects'],
        locations: [{ line: 2, column: 3 }],
        extensions: { code: 'UNAUTHENTICATED' },
      }),
    ]);
  });

  it('variables that do not coerce: 400 BAD_USER_INPUT at the variable, no data', async () => {
    const query = 'query($n: Int!) { projects(first: $n) { edges { node { name } } } }';
    for (const variables of [{ n: 'x' }, {}]) {
      const res = await t.gql('tenant1.localhost', query, { token, variables });
      expect(res.status).toBe(400);
      expect(res.body.data).toBeUndefined();
      expect(res.body.errors).toEqual([
        expect.objectContaining({
          locations: [{ line: 1, column: 7 }],
          extensions: { code: 'BAD_USER_INPUT' },
        }),
      ]);
    }
  });
});

describe('one compiled query per schema', () => {
  it('the same document on the admin host and a tenant host runs against each host’s schema', async () => {
    const query = '{ __type(name: "Query") { fields { name } } }';
    const fields = async (host: string, bearer: string) => {
      const res = await t.gql(host, query, { token: bearer });
      expect(res.body.errors).toBeUndefined();
      return (res.body.data!.__type.fields as { name: string }[]).map((f) => f.name);
    };
    const admin = await t.token(1, 'root');
    // Both orders: whichever host compiles the document first, the other must not reuse it.
    for (const order of [0, 1]) {
      const tenantFirst = order === 0;
      const a = tenantFirst
        ? await fields('tenant1.localhost', token)
        : await fields('admin.localhost', admin);
      const b = tenantFirst
        ? await fields('admin.localhost', admin)
        : await fields('tenant1.localhost', token);
      const [tenantFields, adminFields] = tenantFirst ? [a, b] : [b, a];
      expect(tenantFields).toContain('projects');
      expect(tenantFields).not.toContain('tenants');
      expect(adminFields).toContain('tenants');
      expect(adminFields).not.toContain('projects');
    }
  });
});
