import type { PoolClient } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RequestTransaction } from '../../src/db/request-transaction.js';
import { silentLogger } from '../../src/observability/logger.js';
import { TestApp } from '../helpers/app.js';
import { withClient } from '../helpers/db.js';
import { subscribe } from '../helpers/instances.js';

// SPEC §5: a request with no mutation runs its transaction READ ONLY, so a resolver bug in a
// query cannot write. The database itself reports the access mode of every statement that reads
// projects or tasks here: in this test's database only, their policies call a function that
// raises a NOTICE with `transaction_read_only`.
const REPORTING_POLICIES = `
  CREATE FUNCTION app.test_report_access() RETURNS boolean LANGUAGE plpgsql STABLE AS $$
  BEGIN
    RAISE NOTICE 'transaction_read_only=%', current_setting('transaction_read_only');
    RETURN true;
  END $$;
  GRANT EXECUTE ON FUNCTION app.test_report_access() TO PUBLIC;
  ALTER POLICY tenant_isolation ON app.projects
    USING (tenant_id = (SELECT app.current_tenant_id()) AND (SELECT app.test_report_access()));
  ALTER POLICY tenant_isolation ON app.tasks
    USING (tenant_id = (SELECT app.current_tenant_id()) AND (SELECT app.test_report_access()));`;

let t: TestApp;
let token: string;
const reported: string[] = [];

beforeAll(async () => {
  t = await TestApp.start();
  token = await t.token(2);
  await withClient(t.db.ownerUrl, (c) => c.query(REPORTING_POLICIES));
  // Every client the pool hands out, including one it opened before this test began.
  const listening = new WeakSet<PoolClient>();
  t.pool.on('acquire', (client: PoolClient) => {
    if (listening.has(client)) return;
    listening.add(client);
    client.on('notice', (notice) => {
      if (notice.message?.startsWith('transaction_read_only=')) reported.push(notice.message.split('=')[1]!);
    });
  });
});
afterAll(() => t.close());

/** What the database reported while `run` ran. */
async function accessModes(run: () => Promise<unknown>): Promise<string[]> {
  reported.length = 0;
  await run();
  return [...new Set(reported)];
}

const settings = { tenantId: 2, userId: 'u', actorTenantId: undefined, statementTimeoutMs: 5000 };

describe('query transactions are READ ONLY', () => {
  it('a query request runs READ ONLY, a mutation request READ WRITE', async () => {
    const created = await t.gql(
      'tenant1.localhost',
      'mutation { createProject(input: { name: "P" }) { id name } }',
      {
        token,
      },
    );
    expect(created.body.errors).toBeUndefined();
    expect(
      await accessModes(() =>
        t.gql('tenant1.localhost', '{ projects { edges { node { name tasks { totalCount } } } } }', {
          token,
        }),
      ),
    ).toEqual(['on']);
    expect(
      await accessModes(() =>
        t.gql('tenant1.localhost', 'mutation { createProject(input: { name: "Q" }) { id name } }', { token }),
      ),
    ).toEqual(['off']);
  });

  it("runs a subscription event's transaction READ ONLY", async () => {
    const project = await t.gql(
      'tenant1.localhost',
      'mutation { createProject(input: { name: "S" }) { id } }',
      {
        token,
      },
    );
    const stream = await subscribe(
      t.app,
      'tenant1.localhost',
      'subscription { taskChanged { task { project { name } } } }',
      {
        token,
      },
    );
    try {
      reported.length = 0;
      const write = await t.gql(
        'tenant1.localhost',
        'mutation($p: ID!) { createTask(input: { projectId: $p, title: "T" }) { id } }',
        { token, variables: { p: project.body.data!.createProject.id } },
      );
      expect(write.body.errors).toBeUndefined();
      const writeModes = [...new Set(reported)];
      reported.length = 0;
      const event = await stream.next();
      expect(event.data.taskChanged.task.project.name).toBe('S');
      expect(writeModes).toEqual(['off']);
      expect([...new Set(reported)]).toEqual(['on']);
    } finally {
      await stream.close();
    }
  });

  it('refuses a write in a READ ONLY transaction, and allows it only before the transaction began', async () => {
    const readOnly = new RequestTransaction(t.pool, settings, silentLogger);
    const refused = await readOnly
      .query({ text: "INSERT INTO app.projects (tenant_id, name) VALUES (2, 'x')" })
      .catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: '25006' }); // read_only_sql_transaction: masked as INTERNAL
    await readOnly.finish(false);
    expect(() => readOnly.allowWrites()).toThrow(/after the transaction began/);

    const writable = new RequestTransaction(t.pool, settings, silentLogger);
    writable.allowWrites();
    await writable.query({ text: "INSERT INTO app.projects (tenant_id, name) VALUES (2, 'written')" });
    await writable.finish(true);
    const names = await withClient(t.db.superuserUrl, (c) =>
      c.query("SELECT name FROM app.projects WHERE tenant_id = 2 AND name IN ('x', 'written')"),
    );
    expect(names.rows.map((r) => r.name)).toEqual(['written']);
  });
});
