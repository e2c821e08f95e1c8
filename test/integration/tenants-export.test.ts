import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportTenant } from '../../src/lifecycle/export.js';
import { defaultTenants, TestApp } from '../helpers/app.js';
import { withClient } from '../helpers/db.js';
import { tenantqlInProcess } from '../helpers/run-command.js';
import { provisionDedicated, superuserUrlOf } from '../helpers/tiers.js';

// SPEC §11 `tenants export`: tenant 2 shared, tenant 5 in a database of its own, tenant 3 a
// neighbour whose rows must never appear.
const tenants = {
  ...defaultTenants,
  tenants: [...defaultTenants.tenants, { id: 5, subdomain: 'vault', name: 'Vault', isolation: 'database' }],
};
let t: TestApp;

beforeAll(async () => {
  t = await TestApp.start({
    tenants,
    prepare: async (db, secretsFile) => void (await provisionDedicated(db, secretsFile, tenants)),
  });
  for (const [host, id] of [
    ['tenant1.localhost', 2],
    ['tenant2.localhost', 3],
    ['vault.localhost', 5],
  ] as const) {
    const token = await t.token(id);
    for (let p = 0; p < 3; p++) {
      const project = await t.gql(
        host,
        'mutation($n: String!) { createProject(input: { name: $n }) { id } }',
        {
          token,
          variables: { n: `P${p} of ${id}` },
        },
      );
      for (let k = 0; k < 4; k++) {
        const task = await t.gql(
          host,
          'mutation($p: ID!, $t: String!) { createTask(input: { projectId: $p, title: $t }) { id } }',
          { token, variables: { p: project.body.data?.createProject.id, t: `task ${k}` } },
        );
        expect(task.body.errors).toBeUndefined();
      }
    }
  }
});
afterAll(() => t.close());

/** Every row of the tenant's tables as the superuser sees them, by table. */
async function rowsOf(tenantId: number): Promise<Record<string, unknown[]>> {
  return withClient(superuserUrlOf(t, tenantId), async (c) => {
    const { rows: tables } = await c.query<{ name: string }>(
      `SELECT format('%I.%I', table_schema, table_name) AS name FROM information_schema.columns
        WHERE column_name = 'tenant_id' AND table_schema = 'app' ORDER BY 1`,
    );
    const out: Record<string, unknown[]> = {};
    for (const { name } of tables) {
      const { rows } = await c.query(`SELECT to_jsonb(x) AS r FROM ${name} x WHERE tenant_id = $1`, [
        tenantId,
      ]);
      if (rows.length)
        out[name] = rows.map((r) => r.r).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    }
    return out;
  });
}

function parse(text: string) {
  const [head, ...lines] = text
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line));
  const byTable: Record<string, unknown[]> = {};
  for (const { table, row } of lines) {
    byTable[table] ??= [];
    byTable[table].push(row);
  }
  for (const list of Object.values(byTable))
    list.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  return { head, lines, byTable };
}

describe('tenantql tenants export', () => {
  it.each([2, 5])('writes every row of tenant %i, and only its rows, parents first', async (tenantId) => {
    const run = await tenantqlInProcess(['tenants', 'export', String(tenantId)], {
      DATABASE_OWNER_URL: t.db.ownerUrl,
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const { head, lines, byTable } = parse(run.stdout);
    const expected = await rowsOf(tenantId);
    expect(byTable).toEqual(expected);
    expect(head).toMatchObject({ tenant: tenantId, schema: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) });
    expect(Object.fromEntries(Object.entries(head.counts).filter(([, n]) => n))).toEqual(
      Object.fromEntries(Object.entries(expected).map(([table, rows]) => [table, rows.length])),
    );
    expect(lines.every((line) => line.row.tenant_id === tenantId)).toBe(true);
    const tables = lines.map((line) => line.table);
    expect(tables.lastIndexOf('app.projects')).toBeLessThan(tables.indexOf('app.tasks'));
    expect(byTable['app.tasks']).toHaveLength(12);
  });

  it('reads one snapshot: a row committed during the export is not in it', async () => {
    let inserted = false;
    let text = '';
    const out = new Writable({
      highWaterMark: 1,
      write(chunk, _encoding, done) {
        text += String(chunk);
        if (inserted || !text.includes('"table"')) return done();
        inserted = true;
        withClient(t.db.superuserUrl, (c) =>
          c.query("INSERT INTO app.projects (tenant_id, name) VALUES (2, 'during the export')"),
        ).then(() => done(), done);
      },
    });
    const header = await exportTenant({ ownerUrl: t.db.ownerUrl, tenantId: 2, out, batchSize: 1 });
    expect(inserted).toBe(true);
    expect(text).not.toContain('during the export');
    expect(header.counts['app.projects']).toBe(3);
    expect((await rowsOf(2))['app.projects']).toHaveLength(4);
  });

  it('refuses an unknown tenant in one line, and records who exported', async () => {
    const run = await tenantqlInProcess(['tenants', 'export', '77'], { DATABASE_OWNER_URL: t.db.ownerUrl });
    expect(run).toMatchObject({
      code: 1,
      stderr: 'tenantql tenants export: no tenant 77 in the tenants table\n',
    });
    await withClient(t.db.superuserUrl, async (c) => {
      const { rows } = await c.query(
        "SELECT DISTINCT tenant FROM app.lifecycle_events WHERE command = 'export' ORDER BY 1",
      );
      expect(rows).toEqual([{ tenant: 2 }, { tenant: 5 }]);
    });
  });
});
