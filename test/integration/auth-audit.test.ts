import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestApp } from '../helpers/app.js';
import { inTenant, withClient } from '../helpers/db.js';

// Every mutation writes, in its own transaction, one tenant-scoped audit_log row.
const AUDIT =
  '{ auditLog(first: 50) { totalCount edges { node { subject kind actorTenantId operation entityId } } } }';

let t: TestApp;
beforeAll(async () => {
  t = await TestApp.start();
});
afterAll(() => t.close());

async function auditOf(host: string, token: string) {
  const res = await t.gql(host, AUDIT, { token });
  expect(res.body.errors).toBeUndefined();
  return res.body.data!.auditLog as { totalCount: number; edges: { node: Record<string, unknown> }[] };
}

describe('audit log', () => {
  let projectId: string;

  it('records a user mutation with its subject and the object it made', async () => {
    const token = await t.token(2, 'alice');
    const res = await t.gql(
      'tenant1.localhost',
      'mutation { createProject(input: { name: "Audited" }) { id } }',
      { token },
    );
    projectId = res.body.data!.createProject.id;
    const log = await auditOf('tenant1.localhost', token);
    expect(log.edges[0]!.node).toEqual({
      subject: 'alice',
      kind: 'USER',
      actorTenantId: null,
      operation: 'createProject',
      entityId: projectId,
    });
  });

  it('records a service mutation with the virtual tenant as actor', async () => {
    const service = await t.serviceToken(81, 'reports-worker');
    const res = await t.gql(
      'tenant1.localhost',
      'mutation($id: ID!) { updateProject(input: { id: $id, name: "Renamed" }) { id } }',
      {
        token: service,
        variables: { id: projectId },
      },
    );
    expect(res.body.errors).toBeUndefined();
    const log = await auditOf('tenant1.localhost', await t.token(2));
    expect(log.edges[0]!.node).toEqual({
      subject: 'reports-worker',
      kind: 'SERVICE',
      actorTenantId: 81,
      operation: 'updateProject',
      entityId: projectId,
    });
  });

  it('records an API key mutation, and a delete by the id it was given', async () => {
    const token = await t.token(2, 'alice');
    const created = await t.gql(
      'tenant1.localhost',
      'mutation { createApiKey(input: { name: "k" }) { secret apiKey { id } } }',
      { token },
    );
    const { secret, apiKey } = created.body.data!.createApiKey;
    const del = await t.gql('tenant1.localhost', 'mutation($id: ID!) { deleteProject(id: $id) }', {
      headers: { authorization: `ApiKey ${secret}` },
      variables: { id: projectId },
    });
    expect(del.body).toEqual({ data: { deleteProject: true } });
    const [deleted, key] = (await auditOf('tenant1.localhost', token)).edges.map((e) => e.node);
    expect(key).toEqual({
      subject: 'alice',
      kind: 'USER',
      actorTenantId: null,
      operation: 'createApiKey',
      entityId: apiKey.id,
    });
    expect(deleted).toEqual({
      subject: `apikey:${Buffer.from(apiKey.id, 'base64url').toString().split(':').at(-1)}`,
      kind: 'API_KEY',
      actorTenantId: null,
      operation: 'deleteProject',
      entityId: projectId,
    });
  });

  it('writes nothing for a mutation that fails, nor for the rest of its request', async () => {
    const token = await t.token(2);
    const before = (await auditOf('tenant1.localhost', token)).totalCount;
    const res = await t.gql(
      'tenant1.localhost',
      'mutation($id: ID!) { a: createProject(input: { name: "rolled back" }) { id } b: deleteProject(id: $id) }',
      { token, variables: { id: projectId } }, // already deleted: NOT_FOUND
    );
    expect(res.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect((await auditOf('tenant1.localhost', token)).totalCount).toBe(before);
    const projects = await t.gql('tenant1.localhost', '{ projects { edges { node { name } } } }', { token });
    expect(projects.body.data!.projects.edges).toEqual([]);
  });

  it("one tenant never reads another's rows", async () => {
    const other = await t.token(3, 'bob');
    await t.gql(
      'tenant2.localhost',
      'mutation { createMember(input: { name: "Bob", email: "bob@b.test" }) { id } }',
      { token: other },
    );
    const two = await auditOf('tenant1.localhost', await t.token(2));
    const three = await auditOf('tenant2.localhost', other);
    expect(three.edges.map((e) => e.node.operation)).toEqual(['createMember']);
    expect(two.edges.map((e) => e.node.operation)).not.toContain('createMember');
    expect(two.edges.every((e) => e.node.subject !== 'bob')).toBe(true);
  });

  it('is append-only for the runtime role', async () => {
    await withClient(t.db.appUrl, async (c) => {
      for (const statement of [
        'UPDATE app.audit_log SET subject = $1',
        'DELETE FROM app.audit_log WHERE subject <> $1',
      ]) {
        await expect(inTenant(c, 2, () => c.query(statement, ['forged']))).rejects.toMatchObject({
          code: '42501',
        });
      }
    });
    const rows = await withClient(t.db.superuserUrl, (c) =>
      c.query("SELECT tenant_id, count(*)::int AS n FROM app.audit_log WHERE subject = 'forged' GROUP BY 1"),
    );
    expect(rows.rows).toEqual([]);
  });

  it('stores the tenant of the host, whoever acted', async () => {
    const rows = await withClient(
      t.db.superuserUrl,
      async (c) =>
        (await c.query('SELECT tenant_id, principal_kind, actor_tenant_id FROM app.audit_log ORDER BY id'))
          .rows,
    );
    expect(rows.filter((r) => r.actor_tenant_id === 81)).toEqual([
      { tenant_id: 2, principal_kind: 'SERVICE', actor_tenant_id: 81 },
    ]);
    expect(new Set(rows.map((r) => r.tenant_id))).toEqual(new Set([2, 3]));
  });
});
