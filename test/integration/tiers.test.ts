import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dedicatedNames } from '../../src/tiers/names.js';
import { defaultTenants, TestApp } from '../helpers/app.js';
import { withClient } from '../helpers/db.js';
import { subscribe } from '../helpers/instances.js';
import { asSuperuserIn, credentialsOf, provisionDedicated, tryConnect } from '../helpers/tiers.js';

// SPEC §10: tenant 5 (`vault`) and tenant 6 (`bunker`) have databases of their own; tenant 2
// stays shared. Everything but where the rows live must be the same for both tiers.
const tenants = {
  ...defaultTenants,
  tenants: [
    ...defaultTenants.tenants,
    { id: 5, subdomain: 'vault', name: 'Vault', isolation: 'database' },
    { id: 6, subdomain: 'bunker', name: 'Bunker', isolation: 'database' },
  ],
};

let t: TestApp;

beforeAll(async () => {
  t = await TestApp.start({
    tenants,
    prepare: (db, secretsFile) => provisionDedicated(db, secretsFile, tenants).then(() => {}),
  });
});
afterAll(() => t.close());

const CREATE = `mutation($name: String!) { createProject(input: { name: $name }) { id name } }`;
const READ = '{ projects(first: 5) { totalCount edges { node { name tasks(first: 1) { totalCount } } } } }';

/** Drops ids (global ids differ by tenant), keeps the shape and every other value. */
const shape = (value: unknown): unknown =>
  JSON.parse(JSON.stringify(value), (key, v) => (key === 'id' ? '<id>' : v));

describe('a dedicated tenant', () => {
  it('keeps its rows in its own database only, and answers exactly like a shared tenant', async () => {
    const answers = [];
    for (const [host, tenantId] of [
      ['tenant1.localhost', 2],
      ['vault.localhost', 5],
    ] as const) {
      const token = await t.token(tenantId);
      const created = await t.gql(host, CREATE, { token, variables: { name: 'Ledger' } });
      expect(created.status).toBe(200);
      expect(created.body.errors).toBeUndefined();
      answers.push({ created: created.body, read: (await t.gql(host, READ, { token })).body });
    }
    expect(shape(answers[1])).toEqual(shape(answers[0]));

    // The superuser sees every row: the shared database has none of tenant 5's, its own has them.
    await withClient(t.db.superuserUrl, async (c) => {
      const { rows } = await c.query('SELECT tenant_id, count(*)::int AS n FROM app.projects GROUP BY 1');
      expect(rows).toEqual([{ tenant_id: 2, n: 1 }]);
    });
    await asSuperuserIn(t.db, 5, async (c) => {
      const { rows } = await c.query('SELECT tenant_id, name FROM app.projects');
      expect(rows).toEqual([{ tenant_id: 5, name: 'Ledger' }]);
      // The audit entry of the mutation went with the rows.
      const audit = await c.query('SELECT tenant_id, operation FROM app.audit_log');
      expect(audit.rows).toEqual([{ tenant_id: 5, operation: 'createProject' }]);
    });
  });

  it('is reached only by its own roles: every CONNECT pair of the matrix', async () => {
    const runtime = {
      user: new URL(t.db.appUrl).username,
      password: decodeURIComponent(new URL(t.db.appUrl).password),
    };
    const a = await credentialsOf(t.secretsFile, 5);
    const b = await credentialsOf(t.secretsFile, 6);
    const databases = { shared: t.db.name, A: a.database, B: b.database };
    const roles = { runtime, 'A rw': a.rw, 'A ro': a.ro, 'B rw': b.rw, 'B ro': b.ro };
    const allowed: Record<string, string> = {
      runtime: 'shared',
      'A rw': 'A',
      'A ro': 'A',
      'B rw': 'B',
      'B ro': 'B',
    };
    const seen: string[] = [];
    const expected: string[] = [];
    for (const [roleName, role] of Object.entries(roles)) {
      for (const [dbName, database] of Object.entries(databases)) {
        const outcome = await tryConnect(role, database);
        seen.push(`${roleName} → ${dbName}: ${outcome === 'ok' ? 'ok' : 'refused'}`);
        expected.push(`${roleName} → ${dbName}: ${allowed[roleName] === dbName ? 'ok' : 'refused'}`);
        // Refused by privilege (42501 insufficient_privilege), not by a typo in the test.
        if (outcome !== 'ok') expect(outcome).toBe('42501');
      }
    }
    expect(seen).toEqual(expected);
  });

  it('_ro cannot write; a mutation runs as _rw and a query as _ro', async () => {
    const { ro } = await credentialsOf(t.secretsFile, 5);
    const names = dedicatedNames(t.db.name, 5);
    const insert = await withClient(
      `postgres://${encodeURIComponent(ro.user)}:${encodeURIComponent(ro.password)}@${new URL(t.db.superuserUrl).host}/${names.database}`,
      async (c) => {
        await c.query('BEGIN');
        await c.query("SELECT set_config('app.tenant_id', '5', true)");
        return c.query("INSERT INTO app.projects (tenant_id, name) VALUES (5, 'x')").then(
          () => 'written',
          (error: { code?: string }) => error.code,
        );
      },
    );
    expect(insert).toBe('42501');

    // Tenant 6 has served nothing yet: each connection its pools open shows in pg_stat_activity.
    const backends = () =>
      withClient(t.db.superuserUrl, (c) =>
        c
          .query<{ usename: string }>(
            `SELECT usename FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'tenantql t6 %'`,
            [dedicatedNames(t.db.name, 6).database],
          )
          .then((r) => r.rows.map((row) => row.usename).sort()),
      );
    // A query first: a tenant's first user token also reads its revoked sessions
    // (auth/session-revocations.ts), a read, so as _ro too, whatever the request is.
    const token = await t.token(6);
    const b = dedicatedNames(t.db.name, 6);
    expect(await backends()).toEqual([]);
    const empty = await t.gql('bunker.localhost', READ, { token });
    expect(empty.body.data?.projects.totalCount).toBe(0);
    expect(await backends()).toEqual([b.ro]);
    const created = await t.gql('bunker.localhost', CREATE, { token, variables: { name: 'Safe' } });
    expect(created.body.errors).toBeUndefined();
    expect(await backends()).toEqual([b.ro, b.rw]);
    const read = await t.gql('bunker.localhost', READ, { token });
    expect(read.body.data?.projects.totalCount).toBe(1);
    expect(await backends()).toEqual([b.ro, b.rw]);
  });
});

describe('everything else works the same on the dedicated tier', () => {
  it('API keys: issued, used and revoked in its own database; a shared tenant cannot use one', async () => {
    const token = await t.token(5);
    const issued = await t.gql(
      'vault.localhost',
      'mutation { createApiKey(input: { name: "ci" }) { secret apiKey { id } } }',
      {
        token,
      },
    );
    expect(issued.body.errors, JSON.stringify(issued.body.errors)).toBeUndefined();
    const key = `ApiKey ${issued.body.data?.createApiKey.secret}`;
    const asKey = await t.gql('vault.localhost', '{ projects(first: 1) { totalCount } }', {
      headers: { authorization: key },
    });
    expect(asKey.status).toBe(200);
    expect(asKey.body.errors).toBeUndefined();
    await asSuperuserIn(t.db, 5, async (c) => {
      expect((await c.query('SELECT count(*)::int AS n FROM app.api_keys')).rows).toEqual([{ n: 1 }]);
    });
    // Presented on a shared tenant's host, it is looked up in the shared database: not there.
    const elsewhere = await t.gql('tenant1.localhost', '{ projects(first: 1) { totalCount } }', {
      headers: { authorization: key },
    });
    expect(elsewhere.status).toBe(401);
    const revoked = await t.gql('vault.localhost', 'mutation($id: ID!) { revokeApiKey(id: $id) }', {
      token,
      variables: { id: issued.body.data?.createApiKey.apiKey.id },
    });
    expect(revoked.body).toEqual({ data: { revokeApiKey: true } });
    const after = await t.gql('vault.localhost', '{ projects(first: 1) { totalCount } }', {
      headers: { authorization: key },
    });
    expect(after.status).toBe(401);
  });

  it('subscriptions: each event runs in a short transaction in the tenant database', async () => {
    const token = await t.token(5);
    const project = await t.gql('vault.localhost', CREATE, { token, variables: { name: 'Streams' } });
    const stream = await subscribe(
      t.app,
      'vault.localhost',
      'subscription { taskChanged { kind task { title project { name } } } }',
      {
        token,
      },
    );
    try {
      const created = await t.gql(
        'vault.localhost',
        'mutation($p: ID!) { createTask(input: { projectId: $p, title: "first" }) { id } }',
        { token, variables: { p: project.body.data?.createProject.id } },
      );
      expect(created.body.errors).toBeUndefined();
      expect((await stream.next()).data.taskChanged).toEqual({
        kind: 'CREATED',
        task: { title: 'first', project: { name: 'Streams' } },
      });
    } finally {
      await stream.close();
    }
  });
});

describe('the admin host', () => {
  it('shows where each tenant lives, and counts a dedicated tenant in its own database', async () => {
    const res = await t.gql(
      'admin.localhost',
      '{ tenants { id isolation projectCount projects(first: 5) { totalCount edges { node { name tenantId } } } } }',
      { token: await t.token(1, 'root') },
    );
    expect(res.body.errors).toBeUndefined();
    const byId = new Map(res.body.data?.tenants.map((row: { id: number }) => [row.id, row]));
    expect(byId.get(2)).toMatchObject({ isolation: 'SHARED', projectCount: 1 });
    // Tenant 5's project is in its own database only; the admin pool cannot even connect there.
    const inOwnDatabase = await asSuperuserIn(t.db, 5, (c) =>
      c.query<{ name: string }>('SELECT name FROM app.projects ORDER BY id').then((r) => r.rows),
    );
    expect(inOwnDatabase.length).toBeGreaterThan(0);
    expect(byId.get(5)).toMatchObject({
      isolation: 'DATABASE',
      projectCount: inOwnDatabase.length,
      projects: {
        totalCount: inOwnDatabase.length,
        edges: inOwnDatabase.map(({ name }) => ({ node: { name, tenantId: 5 } })),
      },
    });
    expect(byId.get(4)).toMatchObject({ isolation: 'SHARED', projectCount: 0 });
  });
});

describe('placement', () => {
  it('a server whose file names a dedicated tenant that was never provisioned does not start', async () => {
    const failed = await TestApp.start({ tenants }).then(
      async (app) => {
        await app.close();
        return 'started';
      },
      (error: Error) => error.message,
    );
    expect(failed).toContain('tenant 5 (vault): "isolation": "database" in the file');
    expect(failed).toContain(
      'run `tenantql tenants provision 5` first (`tenantql tenants move 5 --to database` if it has rows)',
    );
  });

  it('a reload that switches a tenant without provision or move is refused; the old set serves', async () => {
    const token3 = await t.token(4);
    const switched = {
      ...tenants,
      tenants: tenants.tenants.map((tenant) =>
        tenant.id === 4
          ? { ...tenant, isolation: 'database' }
          : tenant.id === 5
            ? { ...tenant, isolation: 'shared' }
            : tenant,
      ),
    };
    await t.writeTenants(switched);
    const status = await t.registry.reload();
    expect(status.ok).toBe(false);
    expect(status.problems).toEqual([
      'tenant 4 (tenant3): "isolation": "database" in the file, but its rows are in the shared database; run `tenantql tenants provision 4` first (`tenantql tenants move 4 --to database` if it has rows)',
      'tenant 5 (vault): "isolation": "shared" in the file, but its rows are in a database of its own; run `tenantql tenants move 5 --to shared`, or keep "isolation": "database"',
    ]);
    expect(t.registry.current.byId(4)?.isolation).toBe('shared');
    expect(t.registry.current.byId(5)?.isolation).toBe('database');
    // Both keep being served where their rows are.
    const vault = await t.gql('vault.localhost', READ, { token: await t.token(5) });
    expect(vault.body.errors).toBeUndefined();
    expect(vault.body.data?.projects.totalCount).toBeGreaterThan(0);
    const shared = await t.gql('tenant3.localhost', READ, { token: token3 });
    expect(shared.body.data?.projects.totalCount).toBe(0);
    await t.writeTenants(tenants);
    expect((await t.registry.reload()).ok).toBe(true);
  });
});
