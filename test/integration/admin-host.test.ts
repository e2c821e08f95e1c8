import { hostname, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultTenants, TEST_MASTER_KEY, TestApp } from '../helpers/app.js';
import { inTenant, withClient } from '../helpers/db.js';
import { tenantqlInProcess } from '../helpers/run-command.js';

// SPEC §7 system host: admin.localhost (tenant 1) on the admin pool with its own schema.
const ADMIN = 'admin.localhost';
const SUMMARY = 'id subdomain name kind disabled removed memberCount projectCount taskCount';

const logLines: Record<string, any>[] = [];
const logger = pino(
  { level: 'info' },
  new Writable({
    write(chunk, _encoding, done) {
      logLines.push(JSON.parse(String(chunk)));
      done();
    },
  }),
);

let t: TestApp;
let admin: string;
beforeAll(async () => {
  t = await TestApp.start({ logger });
  admin = await t.token(1, 'root');
  await seed();
});
afterAll(() => t.close());

/** Written through the tenant API: 2 members, 3 projects, 4 tasks in tenant 2; 1, 1, 0 in tenant 3. */
async function seed() {
  const run = async (host: string, token: string, query: string, variables?: object) => {
    const res = await t.gql(host, query, { token, variables });
    expect(res.body.errors).toBeUndefined();
    return res.body.data!;
  };
  const one = await t.token(2);
  for (const email of ['a@one.test', 'b@one.test']) {
    await run(
      'tenant1.localhost',
      one,
      'mutation($e: String!) { createMember(input: { name: "M", email: $e }) { id } }',
      { e: email },
    );
  }
  const projects: string[] = [];
  for (const name of ['P1', 'P2', 'P3']) {
    projects.push(
      (
        await run(
          'tenant1.localhost',
          one,
          'mutation($n: String!) { createProject(input: { name: $n }) { id } }',
          { n: name },
        )
      ).createProject.id,
    );
  }
  for (const p of [projects[0], projects[0], projects[1], projects[2]]) {
    await run(
      'tenant1.localhost',
      one,
      'mutation($p: ID!) { createTask(input: { projectId: $p, title: "T" }) { id } }',
      { p },
    );
  }
  const two = await t.token(3);
  await run(
    'tenant2.localhost',
    two,
    'mutation { createMember(input: { name: "N", email: "n@two.test" }) { id } }',
  );
  await run('tenant2.localhost', two, 'mutation { createProject(input: { name: "Q1" }) { id } }');
}

const ask = (
  query: string,
  options: { token?: string; variables?: object; headers?: Record<string, string> } = { token: admin },
) => t.gql(ADMIN, query, options);

describe('admin schema', () => {
  it('tenants: every tenant with kind, flags and counts matching what was written', async () => {
    const res = await ask(`{ tenants { ${SUMMARY} } }`);
    expect(res.body.errors).toBeUndefined();
    const byId = new Map(res.body.data!.tenants.map((x: any) => [x.id, x]));
    expect([...byId.keys()]).toEqual([1, 2, 3, 4, 81, 100]);
    expect(byId.get(2)).toEqual({
      id: 2,
      subdomain: 'tenant1',
      name: 'Tenant One',
      kind: 'REGULAR',
      disabled: false,
      removed: false,
      memberCount: 2,
      projectCount: 3,
      taskCount: 4,
    });
    expect(byId.get(3)).toMatchObject({ kind: 'REGULAR', memberCount: 1, projectCount: 1, taskCount: 0 });
    expect(byId.get(1)).toMatchObject({ kind: 'SYSTEM', memberCount: 0 });
    expect(byId.get(81)).toMatchObject({ kind: 'VIRTUAL' });
    expect(byId.get(100)).toMatchObject({ kind: 'REGULAR', disabled: true });
  });

  it('tenant(id) pages through its projects; an unknown id is null', async () => {
    const q =
      'query($after: String) { tenant(id: 2) { projectCount projects(first: 2, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { name tenantId } } } } }';
    const first = (await ask(q, { token: admin })).body.data!.tenant;
    expect(first.projects.edges.map((e: any) => e.node)).toEqual([
      { name: 'P1', tenantId: 2 },
      { name: 'P2', tenantId: 2 },
    ]);
    expect(first.projects.totalCount).toBe(3);
    const rest = (await ask(q, { token: admin, variables: { after: first.projects.pageInfo.endCursor } }))
      .body.data!.tenant;
    expect(rest.projects.edges.map((e: any) => e.node.name)).toEqual(['P3']);
    expect(rest.projects.pageInfo.hasNextPage).toBe(false);
    expect((await ask('{ tenant(id: 999) { id } }')).body).toEqual({ data: { tenant: null } });
  });

  it('auditLog shows every tenant; a tenant filter narrows it', async () => {
    const all = (await ask('{ auditLog(first: 100) { totalCount edges { node { tenantId operation } } } }'))
      .body.data!.auditLog;
    expect(all.totalCount).toBe(2 + 3 + 4 + 2);
    expect(new Set(all.edges.map((e: any) => e.node.tenantId))).toEqual(new Set([2, 3]));
    const three = (await ask('{ auditLog(tenantId: 3) { edges { node { tenantId operation } } } }')).body
      .data!.auditLog;
    expect(three.edges.map((e: any) => e.node)).toEqual([
      { tenantId: 3, operation: 'createProject' },
      { tenantId: 3, operation: 'createMember' },
    ]);
  });

  it('reloadStatus reports the last reload, and removed tenants stay listed', async () => {
    const ok = (await ask('{ reloadStatus { ok tenantCount problems at } }')).body.data!.reloadStatus;
    expect(ok).toMatchObject({ ok: true, tenantCount: 6, problems: [] });

    await t.writeTenants({ ...defaultTenants, tenants: defaultTenants.tenants.filter((x) => x.id !== 4) });
    await t.registry.reload();
    const removed = (await ask('{ tenant(id: 4) { removed } reloadStatus { ok tenantCount } }')).body.data!;
    expect(removed).toEqual({ tenant: { removed: true }, reloadStatus: { ok: true, tenantCount: 5 } });

    await t.writeTenants('{ "tenants": [ { "id": 2, "subdomain": "tenant1" } ] }');
    await t.registry.reload();
    const bad = (await ask('{ reloadStatus { ok tenantCount problems } }')).body.data!.reloadStatus;
    expect(bad.ok).toBe(false);
    expect(bad.tenantCount).toBe(5);
    expect(bad.problems.length).toBeGreaterThan(0);
    await t.writeTenants(defaultTenants);
    await t.registry.reload();
  });
});

describe('lifecycle events on the admin host (SPEC §11)', () => {
  const roleOf = (url: string) =>
    withClient(url, async (c) => (await c.query<{ r: string }>('SELECT current_user AS r')).rows[0]!.r);

  it('shows who ran which command for each tenant, newest first, in one statement for every tenant', async () => {
    const env = {
      DATABASE_SUPERUSER_URL: t.db.superuserUrl,
      DATABASE_URL: t.db.appUrl,
      DATABASE_OWNER_URL: t.db.ownerUrl,
      TENANTS_FILE: t.tenantsFile,
      TENANT_SECRETS_FILE: join(tmpdir(), 'tenantql-admin-host-unused.json'),
      TENANT_MASTER_KEY: TEST_MASTER_KEY,
    };
    const provisioned = await tenantqlInProcess(['tenants', 'provision', '3'], env);
    expect(provisioned.code, provisioned.stderr).toBe(0);
    const exported = await tenantqlInProcess(['tenants', 'export', '3'], env);
    expect(exported.code, exported.stderr).toBe(0);

    // A command has no token: the actor is the OS user and host, and the database role it used.
    const who = `${userInfo().username}@${hostname()} as`;
    const res = await ask(
      '{ tenants { id lastLifecycleEvent { command actor } lifecycleEvents { command actor at summary } } }',
    );
    expect(res.body.errors).toBeUndefined();
    const byId = new Map(res.body.data!.tenants.map((x: any) => [x.id, x]));
    const three = byId.get(3) as any;
    expect(three.lastLifecycleEvent).toEqual({
      command: 'EXPORT',
      actor: `${who} ${await roleOf(t.db.ownerUrl)}`,
    });
    expect(three.lifecycleEvents).toEqual([
      {
        command: 'EXPORT',
        actor: `${who} ${await roleOf(t.db.ownerUrl)}`,
        at: expect.any(String),
        summary: expect.stringMatching(/^rows=[1-9][0-9]* schema=sha256:[0-9a-f]+$/),
      },
      {
        command: 'PROVISION',
        actor: `${who} ${await roleOf(t.db.superuserUrl)}`,
        at: expect.any(String),
        summary: 'isolation=shared',
      },
    ]);
    expect(Date.parse(three.lifecycleEvents[0].at)).toBeGreaterThanOrEqual(
      Date.parse(three.lifecycleEvents[1].at),
    );
    expect(byId.get(2)).toMatchObject({ lastLifecycleEvent: null, lifecycleEvents: [] });

    // Batched: the events of every tenant cost one statement more than the tenants alone.
    const trips = async (query: string) => {
      const before = t.queries;
      expect((await ask(query)).body.errors).toBeUndefined();
      return t.queries - before;
    };
    expect(await trips('{ tenants { lifecycleEvents { command } } }')).toBe(
      (await trips('{ tenants { id } }')) + 1,
    );

    const newest = await ask('{ tenant(id: 3) { lifecycleEvents(first: 1) { command } } }');
    expect(newest.body.data!.tenant.lifecycleEvents).toEqual([{ command: 'EXPORT' }]);
    const tooMany = await ask('{ tenant(id: 3) { lifecycleEvents(first: 51) { command } } }');
    expect(tooMany.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});

describe('who may use the admin host', () => {
  const refusal = async (options: Parameters<typeof ask>[1]) => {
    const res = await ask(`{ tenants { id } }`, options);
    return { status: res.status, code: res.body.errors?.[0]?.extensions?.code, data: res.body.data ?? null };
  };

  it('a regular tenant, a service and an API key are refused before GraphQL runs', async () => {
    expect(await refusal({ token: await t.token(2) })).toEqual({
      status: 403,
      code: 'TENANT_MISMATCH',
      data: null,
    });
    expect(await refusal({ token: await t.serviceToken(81) })).toEqual({
      status: 403,
      code: 'FORBIDDEN',
      data: null,
    });
    expect(
      await refusal({ headers: { authorization: `ApiKey tql_${'0'.repeat(12)}_${'A'.repeat(43)}` } }),
    ).toEqual({
      status: 401,
      code: 'UNAUTHENTICATED',
      data: null,
    });
  });

  it('anonymous callers get 401 UNAUTHENTICATED and no data, on every field', async () => {
    for (const field of [
      'tenants { id }',
      'tenant(id: 2) { id }',
      'reloadStatus { ok }',
      'auditLog { totalCount }',
    ]) {
      const res = await ask(`{ ${field} }`, {});
      // No data: null, or (for the nullable tenant field) every root field null.
      const data = Object.values(res.body.data ?? {}).filter((value) => value !== null);
      const codes = res.body.errors?.map((e) => e.extensions?.code);
      expect({ field, status: res.status, codes, data }).toEqual({
        field,
        status: 401,
        codes: ['UNAUTHENTICATED'],
        data: [],
      });
    }
  });

  it('logs every admin request with its subject and what it read', async () => {
    logLines.length = 0;
    await ask('query Inspect($id: Int!) { tenant(id: $id) { id } reloadStatus { ok } }', {
      token: admin,
      variables: { id: 3 },
    });
    const line = logLines.find((l) => l.msg === 'admin request');
    expect(line).toMatchObject({
      subject: 'root',
      principal: 'USER',
      operationName: 'Inspect',
      read: ['tenant(id: 3)', 'reloadStatus'],
      errors: 0,
    });
  });
});

describe('isolation around the admin host', () => {
  it('works with RLS forced on every tenant table, which the runtime role never bypasses', async () => {
    const tables = await withClient(
      t.db.superuserUrl,
      async (c) =>
        (
          await c.query(`SELECT c.relname, c.relforcerowsecurity AS forced FROM pg_class c
                       JOIN pg_namespace n ON n.oid = c.relnamespace
                       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id'
                       WHERE n.nspname = 'app' AND c.relkind = 'r' ORDER BY 1`)
        ).rows,
    );
    expect(tables.map((r) => r.relname)).toEqual(
      expect.arrayContaining(['api_keys', 'audit_log', 'members', 'projects', 'tasks']),
    );
    expect(tables.every((r) => r.forced)).toBe(true);

    // The runtime role in tenant 1's scope (what the admin host would see without its pool): nothing.
    const runtime = await withClient(t.db.appUrl, (c) =>
      inTenant(
        c,
        1,
        async () =>
          (
            await c.query(
              'SELECT (SELECT count(*) FROM app.projects)::int AS p, (SELECT count(*) FROM app.tasks)::int AS t',
            )
          ).rows[0],
      ),
    );
    expect(runtime).toEqual({ p: 0, t: 0 });
    // The admin host, on the admin role, sees every tenant's rows through the same forced policies.
    const summary = (await ask('{ tenants { projectCount taskCount } }')).body.data!.tenants;
    expect(summary.reduce((n: number, x: any) => n + x.projectCount, 0)).toBe(4);
    expect(summary.reduce((n: number, x: any) => n + x.taskCount, 0)).toBe(4);
  });

  it('introspection on a tenant host shows no admin type or field, and the admin host no tenant ones', async () => {
    const q = '{ __schema { types { name } queryType { fields { name } } } }';
    const tenant = (await t.gql('tenant1.localhost', q, { token: await t.token(2) })).body.data!.__schema;
    const types = tenant.types.map((x: any) => x.name);
    const fields = tenant.queryType.fields.map((x: any) => x.name);
    for (const name of ['TenantSummary', 'ReloadStatus', 'TenantKind', 'LifecycleEvent'])
      expect(types).not.toContain(name);
    for (const name of ['tenants', 'reloadStatus']) expect(fields).not.toContain(name);

    const own = (await ask(q)).body.data!.__schema;
    expect(own.queryType.fields.map((x: any) => x.name).sort()).toEqual([
      'auditLog',
      'reloadStatus',
      'tenant',
      'tenants',
    ]);
    expect(own.types.map((x: any) => x.name)).not.toContain('Member');
  });

  it('without DATABASE_ADMIN_URL the admin host answers 503 ADMIN_DISABLED, tenants still work', async () => {
    const off = await TestApp.start({ env: { DATABASE_ADMIN_URL: '' } });
    try {
      const res = await off.gql(ADMIN, '{ tenants { id } }', { token: await off.token(1) });
      expect({ status: res.status, code: res.body.errors?.[0]?.extensions?.code }).toEqual({
        status: 503,
        code: 'ADMIN_DISABLED',
      });
      const tenant = await off.gql('tenant1.localhost', '{ tenant { id } }');
      expect(tenant.body).toEqual({ data: { tenant: { id: 2 } } });
    } finally {
      await off.close();
    }
  });
});
