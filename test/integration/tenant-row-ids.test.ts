import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestApp } from '../helpers/app.js';
import { inTenant, withClient } from '../helpers/db.js';

// SPEC §5 "no shared counter shows through", catalogue A15/G5: ids are numbered per tenant, so
// nothing another tenant does moves them. tenant1.localhost is tenant 2, tenant2.localhost 3.
const A = { host: 'tenant1.localhost', id: 2 };
const B = { host: 'tenant2.localhost', id: 3 };

let t: TestApp;
const tokens = new Map<number, string>();
/** One project per tenant, for createTask. */
const projectOf = new Map<number, string>();
let serial = 0;

/** The row number inside a global id (its last `:` field), whatever else the id carries. */
const rowNumber = (globalId: string) =>
  Number(Buffer.from(globalId, 'base64url').toString('utf8').split(':').at(-1));

async function ok<T = any>(tenant: typeof A, query: string, variables?: object): Promise<T> {
  const res = await t.gql<T>(tenant.host, query, { token: tokens.get(tenant.id), variables });
  expect(res.body.errors, query).toBeUndefined();
  return res.body.data!;
}

/** Creates one object of each type through the API and answers its global id. */
const create: Record<string, (tenant: typeof A) => Promise<string>> = {
  Project: async (tenant) =>
    (await ok(tenant, 'mutation { createProject(input: { name: "p" }) { id } }')).createProject.id,
  Task: async (tenant) =>
    (
      await ok(tenant, 'mutation($p: ID!) { createTask(input: { projectId: $p, title: "t" }) { id } }', {
        p: projectOf.get(tenant.id),
      })
    ).createTask.id,
  Member: async (tenant) =>
    (
      await ok(tenant, 'mutation($e: String!) { createMember(input: { name: "m", email: $e }) { id } }', {
        e: `m${++serial}@example.test`,
      })
    ).createMember.id,
  ApiKey: async (tenant) =>
    (await ok(tenant, 'mutation { createApiKey(input: { name: "k" }) { apiKey { id } } }')).createApiKey
      .apiKey.id,
  // Every mutation writes one audit entry; the newest is the one just written.
  AuditEntry: async (tenant) => {
    await create.Project!(tenant);
    return (await ok(tenant, '{ auditLog(first: 1) { edges { node { id } } } }')).auditLog.edges[0].node.id;
  },
};

const AUDIT_PAGE =
  'query($a: String) { auditLog(first: 4, after: $a) { edges { node { id tenantId } } pageInfo { hasNextPage endCursor } } }';

async function projectPage(first: number, after: string | null) {
  const { projects } = await ok(
    A,
    'query($f: Int, $a: String) { projects(first: $f, after: $a) { edges { node { id } } pageInfo { endCursor } } }',
    { f: first, a: after },
  );
  return {
    ids: projects.edges.map((e: { node: { id: string } }) => e.node.id) as string[],
    endCursor: projects.pageInfo.endCursor as string | null,
  };
}

beforeAll(async () => {
  t = await TestApp.start();
  for (const tenant of [A, B]) {
    tokens.set(tenant.id, await t.token(tenant.id));
    projectOf.set(tenant.id, await create.Project!(tenant));
  }
});
afterAll(() => t.close());

describe('ids leak nothing across tenants', () => {
  it.each(Object.keys(create))('%s: B creating ten between two of A moves nothing A sees', async (type) => {
    const make = create[type]!;
    const gap = async (others: number) => {
      const first = rowNumber(await make(A));
      for (let i = 0; i < others; i++) await make(B);
      return rowNumber(await make(A)) - first;
    };
    const alone = await gap(0);
    const withB = await gap(10);
    // With a shared sequence this was 11. A's own counter also numbers the audit entry each
    // mutation writes, so consecutive objects are 2 apart: exactly what A itself wrote.
    expect(withB).toBe(alone);
    expect(withB).toBe(2);
  });

  it('many concurrent inserts of one tenant get distinct ids; paging while they run misses and repeats nothing', async () => {
    const writers = 8;
    const perWriter = 10;
    const created: string[] = [];
    let writing = true;
    const writes = Promise.all(
      Array.from({ length: writers }, async () => {
        for (let i = 0; i < perWriter; i++) created.push(await create.Project!(A));
      }),
    ).finally(() => {
      writing = false;
    });

    // A client paging forward by cursor while the writes commit, then to the end once they stop.
    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      const stillWriting = writing;
      const page = await projectPage(7, after);
      seen.push(...page.ids);
      after = page.endCursor ?? after;
      if (page.ids.length === 0 && !stillWriting) break;
    }
    await writes;

    expect(new Set(created).size).toBe(writers * perWriter);
    expect(new Set(seen).size).toBe(seen.length);
    const all: string[] = [];
    for (let page = await projectPage(100, null); page.ids.length > 0; ) {
      all.push(...page.ids);
      page = await projectPage(100, page.endCursor);
    }
    expect(seen).toEqual(all);
    expect(all).toEqual(expect.arrayContaining(created));
  });
});

describe('the admin host, over every tenant', () => {
  it('pages the audit log by cursor without skipping or repeating row ids that repeat across tenants', async () => {
    // Interleaved, so both tenants have entries with the same row numbers.
    for (let i = 0; i < 3; i++) for (const tenant of [A, B]) await create.Project!(tenant);
    const admin = await t.token(1, 'root');
    const seen: { tenantId: number; id: string }[] = [];
    let after: string | null = null;
    do {
      const res = await t.gql('admin.localhost', AUDIT_PAGE, { token: admin, variables: { a: after } });
      expect(res.body.errors).toBeUndefined();
      const page: any = res.body.data!.auditLog;
      seen.push(...page.edges.map((e: { node: { tenantId: number; id: string } }) => e.node));
      after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
    } while (after);

    const { rows } = await withClient(t.db.superuserUrl, (c) =>
      c.query<{ tenant_id: number; id: string }>(
        'SELECT tenant_id, id FROM app.audit_log ORDER BY at DESC, tenant_id DESC, id DESC',
      ),
    );
    expect(new Set(rows.map((r) => r.id)).size).toBeLessThan(rows.length);
    expect(seen.map((e) => [e.tenantId, rowNumber(e.id)])).toEqual(
      rows.map((r) => [r.tenant_id, Number(r.id)]),
    );
    expect(new Set(seen.map((e) => e.id)).size).toBe(rows.length);
  });
});

describe('the per-tenant counter, in SQL as the runtime role', () => {
  const asRuntime = <T>(fn: (client: pg.Client) => Promise<T>) => withClient(t.db.appUrl, fn);
  const counters = () =>
    withClient(
      t.db.superuserUrl,
      async (c) => (await c.query('SELECT * FROM app.tenant_row_ids ORDER BY 1')).rows,
    );

  it('tenant A can neither read nor move tenant B’s counter', async () => {
    const before = await counters();
    expect(before.map((row) => row.tenant_id)).toEqual(expect.arrayContaining([A.id, B.id]));
    await asRuntime(async (c) => {
      const visible = await inTenant(c, A.id, () => c.query('SELECT tenant_id FROM app.tenant_row_ids'));
      expect(visible.rows).toEqual([{ tenant_id: A.id }]);
      const moved = await inTenant(c, A.id, () =>
        c.query('UPDATE app.tenant_row_ids SET last_id = last_id + 100 WHERE tenant_id = $1', [B.id]),
      );
      expect(moved.rowCount).toBe(0);
      for (const sql of [
        'INSERT INTO app.tenant_row_ids (tenant_id, last_id) VALUES ($1, 999)',
        'INSERT INTO app.tenant_row_ids (tenant_id, last_id) VALUES ($1, 999) ON CONFLICT (tenant_id) DO UPDATE SET last_id = 999',
        'DELETE FROM app.tenant_row_ids WHERE tenant_id = $1',
        // A row claiming B's tenant would advance B's counter before its own policy check.
        "INSERT INTO app.projects (tenant_id, name) VALUES ($1, 'x')",
      ]) {
        await expect(
          inTenant(c, A.id, () => c.query(sql, [B.id])),
          sql,
        ).rejects.toEqual(expect.objectContaining({ code: '42501' }));
      }
    });
    expect(await counters()).toEqual(before);
  });

  it('keeps an id given explicitly, and numbers later rows past it', async () => {
    const ids = await asRuntime((c) =>
      inTenant(c, A.id, async () => {
        const last = Number((await c.query('SELECT last_id FROM app.tenant_row_ids')).rows[0].last_id);
        // Two in one statement, as a bulk load would; the counter moves once, past both.
        await c.query(
          "INSERT INTO app.members (tenant_id, id, name, email) VALUES ($1, $2, 'x', 'x1@x.test'), ($1, $3, 'x', 'x2@x.test')",
          [A.id, last + 50, last + 100],
        );
        const { rows } = await c.query(
          "INSERT INTO app.projects (tenant_id, name) VALUES ($1, 'x') RETURNING id",
          [A.id],
        );
        return { last, next: Number(rows[0].id) };
      }),
    );
    expect(ids.next).toBe(ids.last + 101);
  });

  it('no sequence is left in a user schema, so none is readable', async () => {
    await asRuntime(async (c) => {
      const { rows } = await c.query(`
        SELECT c.oid::regclass::text AS sequence FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind = 'S' AND n.nspname NOT IN ('pg_catalog', 'information_schema')`);
      expect(rows).toEqual([]);
      // CASE: the privilege function errors on anything but a sequence, whatever the plan.
      const readable = await c.query(`
        SELECT c.oid::regclass::text FROM pg_class c
         WHERE CASE WHEN c.relkind = 'S' THEN has_sequence_privilege(c.oid, 'SELECT, USAGE, UPDATE') END`);
      expect(readable.rows).toEqual([]);
    });
  });

  /** A client as the runtime role with an open transaction in `tenant`. */
  async function openTransaction(tenant: number) {
    const client = new pg.Client({ connectionString: t.db.appUrl });
    await client.connect();
    await client.query('BEGIN');
    await client.query("SELECT set_config('app.tenant_id', $1, true)", [String(tenant)]);
    const { rows } = await client.query('SELECT pg_backend_pid() AS pid');
    return { client, pid: rows[0].pid as number };
  }

  /** Until `pid` waits on a lock, or `settled` says its statement is done. */
  async function blockedOrDone(pid: number, settled: () => boolean): Promise<void> {
    for (let i = 0; i < 200 && !settled(); i++) {
      const { rows } = await withClient(t.db.superuserUrl, (c) =>
        c.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'", [pid]),
      );
      if (rows.length > 0) return;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  it('hands out ids in commit order, so a keyset reader never skips a row committed later', async () => {
    const first = await openTransaction(A.id);
    const second = await openTransaction(A.id);
    try {
      await first.client.query("INSERT INTO app.projects (tenant_id, name) VALUES ($1, 'slow')", [A.id]);
      let done = false;
      const later = second.client
        .query("INSERT INTO app.projects (tenant_id, name) VALUES ($1, 'fast')", [A.id])
        .then(() => second.client.query('COMMIT'))
        .finally(() => {
          done = true;
        });
      await blockedOrDone(second.pid, () => done);

      const page = (where: string, values: unknown[]) =>
        asRuntime((c) =>
          inTenant(c, A.id, async () =>
            (await c.query(`SELECT id FROM app.projects ${where} ORDER BY id`, values)).rows.map((r) => r.id),
          ),
        );
      const seen = await page('', []);
      const cursor = seen.at(-1);
      await first.client.query('COMMIT');
      await later;
      seen.push(...(await page('WHERE id > $1', [cursor])));
      expect(seen).toEqual(await page('', []));
    } finally {
      await first.client.end();
      await second.client.end();
    }
  });

  it('a tenant’s writers queue on one lock before any row lock, so they cannot deadlock', async () => {
    const project = rowNumber(await create.Project!(A));
    const deleting = await openTransaction(A.id);
    const inserting = await openTransaction(A.id);
    try {
      // deleteProject's statements: the project row is locked until commit…
      await deleting.client.query('DELETE FROM app.tasks WHERE project_id = $1', [project]);
      await deleting.client.query('DELETE FROM app.projects WHERE id = $1', [project]);
      // …while createTask in that project needs the row's KEY SHARE lock for its foreign key.
      let done = false;
      const insert = inserting.client
        .query("INSERT INTO app.tasks (tenant_id, project_id, title) VALUES ($1, $2, 'late')", [
          A.id,
          project,
        ])
        .finally(() => {
          done = true;
        });
      insert.catch(() => {});
      await blockedOrDone(inserting.pid, () => done);
      // The delete's audit entry needs the counter: had the insert taken it first, a deadlock.
      await deleting.client.query(
        "INSERT INTO app.audit_log (tenant_id, principal_kind, operation) VALUES ($1, 'USER', 'deleteProject')",
        [A.id],
      );
      await deleting.client.query('COMMIT');
      // The task's project is gone: a foreign key violation (NOT_FOUND), not a deadlock.
      await expect(insert).rejects.toEqual(expect.objectContaining({ code: '23503' }));
    } finally {
      await deleting.client.end();
      await inserting.client.end();
    }
  });
});
