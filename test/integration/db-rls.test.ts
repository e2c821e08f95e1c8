import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestDatabase,
  exampleTenants,
  inTenant,
  syncTenants,
  type TestDatabase,
  withClient,
} from '../helpers/db.js';

// Security catalogue §A4, A7, A8, A12, A19: what the policies let the runtime role see and
// write, with the tenant set the way the server sets it (transaction-local).
let db: TestDatabase;
const TENANT_TABLES = ['app.members', 'app.projects', 'app.tasks'];

beforeAll(async () => {
  db = await createTestDatabase();
  await syncTenants(db.adminUrl, exampleTenants);
});
afterAll(() => db?.drop());

const asRuntime = <T>(fn: (client: pg.Client) => Promise<T>) => withClient(db.appUrl, fn);
const sqlstate = (code: string) => expect.objectContaining({ code });

async function seed(client: pg.Client, tenant: number, label: string) {
  return inTenant(client, tenant, async () => {
    const project = await client.query(
      'INSERT INTO app.projects (tenant_id, name) VALUES ($1, $2) RETURNING id',
      [tenant, `${label} project`],
    );
    const member = await client.query(
      'INSERT INTO app.members (tenant_id, name, email) VALUES ($1, $2, $3) RETURNING id',
      [tenant, label, `${label}@example.test`],
    );
    const projectId: string = project.rows[0].id;
    const memberId: string = member.rows[0].id;
    await client.query(
      'INSERT INTO app.tasks (tenant_id, project_id, title, assignee_id) VALUES ($1, $2, $3, $4)',
      [tenant, projectId, `${label} task`, memberId],
    );
    return { projectId, memberId };
  });
}

describe('tenant settings fail closed', () => {
  // Rows in tenant 1 too: a value that slipped through as 1 (the system tenant) would show.
  beforeAll(() =>
    asRuntime(async (c) => {
      await seed(c, 1, 'system');
      await seed(c, 2, 'two');
    }),
  );

  const countAll = async (c: pg.Client) => {
    const counts: number[] = [];
    for (const table of [...TENANT_TABLES, 'app.tenants']) {
      counts.push((await c.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n);
    }
    return counts;
  };

  it('sees nothing on a fresh connection, or on a reused one after a tenant transaction', async () => {
    await asRuntime(async (c) => {
      expect(await countAll(c)).toEqual([0, 0, 0, 0]);
      expect(Math.min(...(await inTenant(c, 2, () => countAll(c))))).toBeGreaterThan(0);
      // set_config(..., true) leaves '' behind, not NULL: it must not become a tenant.
      expect((await c.query("SELECT current_setting('app.tenant_id', true) AS v")).rows[0].v).toBe('');
      expect(await countAll(c)).toEqual([0, 0, 0, 0]);
    });
  });

  it.each(['', 'abc', '1 ', ' 1', '-1', '2;3', '02', '2.0', '1e0', '2147483648', '99999999999', '0'])(
    'sees nothing with app.tenant_id = %j',
    async (value) => {
      await asRuntime((c) =>
        inTenant(c, value, async () => {
          expect((await c.query('SELECT app.current_tenant_id() AS id')).rows[0].id).toBeNull();
          expect(await countAll(c)).toEqual([0, 0, 0, 0]);
        }),
      );
    },
  );
});

describe('isolation between tenants', () => {
  let two: { projectId: string; memberId: string };
  beforeAll(async () => {
    two = await asRuntime((c) => seed(c, 2, 'isolated'));
  });

  it('hides tenant 2 rows from tenant 3 for select, update and delete', async () => {
    await asRuntime(async (c) => {
      await inTenant(c, 3, async () => {
        const id = two.projectId;
        expect((await c.query('SELECT * FROM app.projects WHERE id = $1', [id])).rowCount).toBe(0);
        expect((await c.query("UPDATE app.projects SET name = 'taken' WHERE id = $1", [id])).rowCount).toBe(
          0,
        );
        expect((await c.query('DELETE FROM app.projects WHERE id = $1', [id])).rowCount).toBe(0);
        expect((await c.query('DELETE FROM app.tasks')).rowCount).toBe(0);
      });
      const { rows } = await inTenant(c, 2, () =>
        c.query('SELECT name FROM app.projects WHERE id = $1', [two.projectId]),
      );
      expect(rows).toEqual([{ name: 'isolated project' }]);
    });
  });

  it('refuses references into another tenant and rows for another tenant', async () => {
    await asRuntime(async (c) => {
      const insertTask = (tenant: number, project: string, assignee: string | null = null) =>
        inTenant(c, 3, () =>
          c.query(
            'INSERT INTO app.tasks (tenant_id, project_id, title, assignee_id) VALUES ($1, $2, $3, $4)',
            [tenant, project, 'x', assignee],
          ),
        );
      // The composite key finds no (3, project) row: tenant 2's project does not exist here.
      await expect(insertTask(3, two.projectId)).rejects.toEqual(sqlstate('23503'));
      const own = await seed(c, 3, 'three');
      await expect(insertTask(3, own.projectId, two.memberId)).rejects.toEqual(sqlstate('23503'));
      // WITH CHECK: a row for tenant 2 cannot be written from tenant 3, nor moved there.
      await expect(insertTask(2, two.projectId)).rejects.toEqual(sqlstate('42501'));
      await expect(
        inTenant(c, 3, () => c.query('UPDATE app.projects SET tenant_id = 2 WHERE id = $1', [own.projectId])),
      ).rejects.toEqual(sqlstate('42501'));
    });
  });

  it('keeps member emails unique per tenant on their keyed hash (the email itself is a ciphertext)', async () => {
    // The server writes HMAC(tenant's key, lower-cased email): here, any 32 bytes stand for one.
    const hash = Buffer.alloc(32, 7);
    await asRuntime(async (c) => {
      const add = (tenant: number, email: string) =>
        inTenant(c, tenant, () =>
          c.query('INSERT INTO app.members (tenant_id, name, email, email_hash) VALUES ($1, $2, $3, $4)', [
            tenant,
            'Ann',
            email,
            hash,
          ]),
        );
      await add(2, 'tq1:first');
      await expect(add(2, 'tq1:second')).rejects.toEqual(sqlstate('23505'));
      await expect(add(3, 'tq1:third')).resolves.toBeDefined();
    });
  });

  it('shows a tenant its own tenants row only; the admin role sees all and writes nothing', async () => {
    const ids = await asRuntime((c) => inTenant(c, 2, () => c.query('SELECT id FROM app.tenants')));
    expect(ids.rows).toEqual([{ id: 2 }]);
    await withClient(db.adminUrl, async (c) => {
      expect((await c.query('SELECT count(*)::int AS n FROM app.tenants')).rows[0].n).toBe(
        exampleTenants.length,
      );
      await expect(c.query("INSERT INTO app.projects (tenant_id, name) VALUES (2, 'x')")).rejects.toEqual(
        sqlstate('42501'),
      );
    });
  });
});

// §A18: the policy's (SELECT app.current_tenant_id()) is an InitPlan, evaluated once per
// statement, and its value is an index condition, not a filter over every tenant's rows.
it('looks the tenant up once per statement and uses it as an index condition', async () => {
  const plan = await asRuntime((c) =>
    inTenant(c, 2, async () => {
      await c.query('SET LOCAL enable_seqscan = off');
      const { rows } = await c.query('EXPLAIN SELECT * FROM app.tasks WHERE project_id = 1');
      return rows.map((row) => row['QUERY PLAN']).join('\n');
    }),
  );
  expect(plan).toMatch(/InitPlan 1/);
  expect(plan).toMatch(/Index Cond: \(\(tenant_id = (\$0|\(InitPlan 1\)\.col1)\)/);
});

describe('app.sync_tenants', () => {
  it('marks a tenant missing from the list removed, keeps its data, and restores it', async () => {
    await asRuntime((c) => seed(c, 100, 'acme'));
    const state = () =>
      withClient(db.adminUrl, async (c) => ({
        removed: (await c.query('SELECT removed_at IS NOT NULL AS r FROM app.tenants WHERE id = 100')).rows[0]
          .r,
        projects: (await c.query('SELECT count(*)::int AS n FROM app.projects WHERE tenant_id = 100')).rows[0]
          .n,
      }));
    await syncTenants(
      db.adminUrl,
      exampleTenants.filter((t) => t.id !== 100),
    );
    expect(await state()).toEqual({ removed: true, projects: 1 });
    await syncTenants(db.adminUrl, exampleTenants);
    expect(await state()).toEqual({ removed: false, projects: 1 });
  });
});
