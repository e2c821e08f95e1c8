import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purgeTenantKeys } from '../../src/cache/tenant-keys.js';
import { dedicatedNames } from '../../src/tiers/names.js';
import { defaultTenants, TestApp } from '../helpers/app.js';
import { withClient } from '../helpers/db.js';
import { tenantqlInProcess } from '../helpers/run-command.js';
import { credentialsOf, provisionDedicated, tenantRowsIn } from '../helpers/tiers.js';
import { dumpKeys, OwnCluster, OwnServer } from '../helpers/valkey.js';

// SPEC §11 `tenants purge`, on a real PostgreSQL and a Valkey of this file's own (ACL users are
// server-wide): the report matches what was made, nothing of the tenant is left (checked from
// information_schema, a fresh SCAN, ACL USERS), the refusals delete nothing, the neighbour is
// byte-identical, and a cluster's keys go too.
const extra = [
  { id: 7, subdomain: 'doomed', name: 'Doomed' },
  { id: 8, subdomain: 'sunk', name: 'Sunk', isolation: 'database' },
  { id: 9, subdomain: 'active', name: 'Still served' },
];
const tenants = { ...defaultTenants, tenants: [...defaultTenants.tenants, ...extra] };
const hostOf = (id: number) =>
  `${[...defaultTenants.tenants, ...extra].find((x) => x.id === id)!.subdomain}.localhost`;

let valkey: OwnServer;
let redis: Redis;
let t: TestApp;
let env: Record<string, string>;

beforeAll(async () => {
  valkey = await OwnServer.start();
  redis = new Redis(valkey.url);
  t = await TestApp.start({
    tenants,
    valkeyUrl: valkey.url,
    env: { CACHE_TTL_SECONDS: '60' },
    prepare: async (db, secretsFile) => void (await provisionDedicated(db, secretsFile, tenants)),
  });
  env = {
    DATABASE_SUPERUSER_URL: t.db.superuserUrl,
    DATABASE_URL: t.db.appUrl,
    TENANTS_FILE: t.tenantsFile,
    TENANT_SECRETS_FILE: t.secretsFile,
    VALKEY_URL: valkey.url,
  };
  for (const id of [2, 7, 8, 9]) {
    await seed(id);
    await redis.call('ACL', 'SETUSER', `tenant_${id}`, 'on', '>pw-of-a-worker', `~{t${id}}:*`, '+@all');
  }
});
afterAll(async () => {
  await t?.close();
  redis?.disconnect();
  await valkey?.stop();
});

/** The key store holds a wrapped data key of the tenant (SPEC §12). */
async function wrappedKeyOf(tenantId: number): Promise<boolean> {
  return withClient(t.db.keys.superuserUrl, async (c) => {
    const { rowCount } = await c.query('SELECT 1 FROM keys.data_keys WHERE tenant_id = $1', [tenantId]);
    return rowCount === 1;
  });
}

async function ask(tenantId: number, query: string, variables: object = {}) {
  const res = await t.gql(hostOf(tenantId), query, { token: await t.token(tenantId), variables });
  expect(res.body.errors).toBeUndefined();
  return res.body.data!;
}

/** A member, projects with tasks, an API key: rows in most tables, and keys (cache, rate limit). */
async function seed(tenantId: number): Promise<void> {
  await ask(tenantId, 'mutation { createMember(input: { name: "Ada", email: "ada@x.example" }) { id } }');
  for (let p = 0; p < 2; p++) {
    const project = await ask(
      tenantId,
      'mutation($n: String!) { createProject(input: { name: $n }) { id } }',
      {
        n: `Project ${p}`,
      },
    );
    await ask(tenantId, 'mutation($p: ID!) { createTask(input: { projectId: $p, title: "Task" }) { id } }', {
      p: project.createProject.id,
    });
  }
  await ask(tenantId, 'mutation { createApiKey(input: { name: "ci" }) { apiKey { id } } }');
  await ask(tenantId, READ);
}
const READ = '{ projects(first: 5) { totalCount edges { node { name tasks(first: 5) { totalCount } } } } }';

const rowsIn = (database: string, tenantId: number) => tenantRowsIn(t.db.superuserUrl, database, tenantId);
const nonZero = (counts: Record<string, number>) =>
  Object.fromEntries(Object.entries(counts).filter(([, n]) => n > 0));

async function keysOf(tenantId: number) {
  return (await dumpKeys(redis))
    .filter(({ key }) => key.startsWith(`{t${tenantId}}:`))
    .sort((a, b) => a.key.localeCompare(b.key));
}
const aclUsers = async () => (await redis.call('ACL', 'USERS')) as string[];

/** The neighbour as a byte comparison sees it: its rows as text, its keys and values, its answers. */
async function neighbour() {
  const rows = await withClient(t.db.superuserUrl, async (c) => {
    const out: string[] = [];
    for (const table of [
      'app.members',
      'app.projects',
      'app.tasks',
      'app.api_keys',
      'app.audit_log',
      'app.tenant_row_ids',
    ]) {
      const { rows } = await c.query(`SELECT x::text AS t FROM ${table} x WHERE tenant_id = 2 ORDER BY 1`);
      out.push(...rows.map((r) => `${table} ${r.t}`));
    }
    return out;
  });
  return { rows, keys: (await keysOf(2)).filter(({ key }) => !key.includes(':ratelimit:')) };
}

const purge = (args: string[]) => tenantqlInProcess(['tenants', 'purge', ...args], env);
const fileWithout = (...ids: number[]) => ({
  ...tenants,
  tenants: tenants.tenants.filter((x) => !ids.includes(x.id)),
});

describe('tenants purge refuses', () => {
  it('an active tenant, tenant 1, a virtual tenant, a wrong --confirm, an unknown tenant: nothing deleted', async () => {
    const before = { rows: await rowsIn(t.db.name, 9), keys: await keysOf(9), users: await aclUsers() };
    const cases: [string[], RegExp][] = [
      [['9', '--confirm', 'active'], /tenant 9 \(active\) is served: remove it from the tenants file/],
      [['1', '--confirm', 'admin'], /system tenant/],
      [['81', '--confirm', 'reports'], /virtual tenant/],
      [['12345', '--confirm', 'nobody'], /no tenant 12345 in the tenants table/],
    ];
    for (const [args, reason] of cases) {
      const result = await purge(args);
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toMatch(reason);
      expect(result.stderr.split('\n').filter(Boolean)).toHaveLength(1);
      expect(result.stdout).toBe('');
    }
    await t.writeTenants(fileWithout(9));
    // Out of the file, but no server has reloaded: the tenants table still serves it.
    const early = await purge(['9', '--confirm', 'active']);
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/still served by the tenants table: reload the servers/);
    expect((await t.registry.reload()).ok).toBe(true);
    const wrong = await purge(['9', '--confirm', 'Active']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/--confirm must be the tenant's subdomain, active; nothing was deleted/);
    expect({ rows: await rowsIn(t.db.name, 9), keys: await keysOf(9), users: await aclUsers() }).toEqual(
      before,
    );
    expect(Object.values(before.rows).some((n) => n > 0)).toBe(true);
    await t.writeTenants(tenants);
    expect((await t.registry.reload()).ok).toBe(true);
  });
});

describe('tenants purge', () => {
  it('a shared tenant removed from the file: the report matches, nothing is left, the neighbour is untouched', async () => {
    const rowsBefore = nonZero(await rowsIn(t.db.name, 7));
    const keysBefore = await keysOf(7);
    expect(keysBefore.length).toBeGreaterThan(0);
    expect(await aclUsers()).toContain('tenant_7');
    const around = await neighbour();
    const answers = await ask(2, READ);
    expect(await wrappedKeyOf(7)).toBe(true);

    await t.writeTenants(fileWithout(7));
    expect((await t.registry.reload()).ok).toBe(true);
    const exportFile = join(tmpdir(), `tenantql-purge-${process.pid}.jsonl`);
    const result = await purge(['7', '--confirm', 'doomed', '--export', exportFile]);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report).toMatchObject({
      tenant: 7,
      subdomain: 'doomed',
      keys: { before: keysBefore.length, deleted: keysBefore.length, after: 0 },
      aclUser: 'removed',
      dataKey: 'destroyed',
      exportedTo: exportFile,
      complete: true,
      problems: [],
    });
    // Rows per table: before as counted here, after zero, for every table.
    for (const [table, n] of Object.entries(rowsBefore))
      expect(report.rows[table], table).toEqual({ before: n, after: 0 });
    for (const counts of Object.values(report.rows) as { after: number }[]) expect(counts.after).toBe(0);
    // The export came first, and holds what was deleted.
    const header = JSON.parse((await readFile(exportFile, 'utf8')).split('\n')[0]!);
    expect(nonZero(header.counts)).toEqual(rowsBefore);

    expect(nonZero(await rowsIn(t.db.name, 7))).toEqual({});
    expect(await keysOf(7)).toEqual([]);
    expect(await aclUsers()).not.toContain('tenant_7');
    expect(await wrappedKeyOf(7)).toBe(false);
    expect(await wrappedKeyOf(2)).toBe(true);
    await withClient(t.db.superuserUrl, async (c) => {
      const { rows } = await c.query('SELECT purged_at FROM app.tenants WHERE id = 7');
      expect(rows[0].purged_at).toBeInstanceOf(Date);
      const events = await c.query(
        "SELECT actor, detail FROM app.lifecycle_events WHERE tenant = 7 AND command = 'purge'",
      );
      expect(events.rows).toHaveLength(1);
      expect(events.rows[0].detail).toMatchObject({ complete: true, aclUser: 'removed' });
    });
    expect(await neighbour()).toEqual(around);
    expect(await ask(2, READ)).toEqual(answers);

    // The admin host shows the tombstone and who ran the purge; a tenant host has no such field.
    const admin = await t.gql(
      'admin.localhost',
      '{ tenant(id: 7) { purgedAt isolation lastLifecycleEvent { command actor at } } }',
      { token: await t.token(1, 'root') },
    );
    expect(admin.body.errors).toBeUndefined();
    expect(admin.body.data!.tenant).toMatchObject({
      purgedAt: report.purgedAt,
      isolation: 'SHARED',
      lastLifecycleEvent: { command: 'PURGE', actor: expect.stringMatching(/^\S+@\S+ as \S+$/) },
    });
    const tenantHost = await t.gql(hostOf(2), '{ tenant { lastLifecycleEvent { command } } }', {
      token: await t.token(2),
    });
    expect(tenantHost.body.errors?.[0]?.message).toMatch(/Cannot query field "lastLifecycleEvent"/);

    // Run again: nothing to do, and it says so.
    const again = await purge(['7', '--confirm', 'doomed']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({
      keys: { before: 0 },
      aclUser: 'absent',
      dataKey: 'none',
      complete: true,
    });
    // The id is not given out again: provision and import refuse it.
    await t.writeTenants(tenants);
    const reload = await t.registry.reload();
    expect(reload.ok).toBe(false);
    expect(reload.problems).toEqual([
      'tenant 7 (doomed): tenant 7 was purged (`tenantql tenants purge`); its id is not reused: give this tenant another id, or keep it "disabled": true',
    ]);
    const provision = await tenantqlInProcess(['tenants', 'provision', '7'], env);
    expect(provision.code).toBe(1);
    expect(provision.stderr).toMatch(/tenant 7 was purged/);
  });

  it('a dedicated tenant disabled in the file: its database, roles and credentials go too', async () => {
    const names = dedicatedNames(t.db.name, 8);
    const rowsBefore = nonZero(await rowsIn(names.database, 8));
    expect(Object.keys(rowsBefore).length).toBeGreaterThan(3);
    await credentialsOf(t.secretsFile, 8);
    await t.writeTenants({
      ...tenants,
      tenants: fileWithout(7).tenants.map((x) => (x.id === 8 ? { ...x, disabled: true } : x)),
    });
    expect((await t.registry.reload()).ok).toBe(true);
    const result = await purge(['8', '--confirm', 'sunk']);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.database).toEqual({ name: names.database, dropped: true, exists: false });
    for (const [table, n] of Object.entries(rowsBefore)) {
      expect(report.rows[`${names.database}: ${table}`], table).toEqual({ before: n, after: 0 });
    }
    expect(report.aclUser).toBe('removed');
    await withClient(t.db.superuserUrl, async (c) => {
      const db = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [names.database]);
      expect(db.rowCount).toBe(0);
      const roles = await c.query('SELECT rolname FROM pg_roles WHERE rolname LIKE $1', [
        `${names.database}%`,
      ]);
      expect(roles.rows).toEqual([]);
    });
    const secrets = JSON.parse(await readFile(t.secretsFile, 'utf8'));
    expect(JSON.stringify(secrets)).not.toContain(names.database);
    expect(nonZero(await rowsIn(t.db.name, 8))).toEqual({});
    expect(await keysOf(8)).toEqual([]);
    expect(result.stderr).toContain('stays in');
    // Left in the file, disabled, it does not stop a reload; and an export of it is refused.
    expect((await t.registry.reload()).ok).toBe(true);
    const late = await purge(['8', '--confirm', 'sunk', '--export', join(tmpdir(), 'late.jsonl')]);
    expect(late.code).toBe(1);
    expect(late.stderr).toMatch(/tenant 8 was purged at .*; there is nothing to export/);
  });
});

describe('purgeTenantKeys on a cluster', () => {
  it("deletes every {t<ID>}: key (one slot), and nothing of {t70}: or another tenant's", async () => {
    const cluster = await OwnCluster.start();
    const client = new Cluster(
      cluster.nodes.map((n) => ({ host: n.split(':')[0]!, port: Number(n.split(':')[1]) })),
    );
    try {
      for (let n = 0; n < 50; n++) {
        await client.set(`{t7}:cache:${n}`, 'x');
        await client.set(`{t70}:cache:${n}`, 'y');
        await client.set(`{t3}:cache:${n}`, 'z');
      }
      const purged = await purgeTenantKeys(
        { valkeyUrl: 'redis://127.0.0.1', valkeyClusterNodes: cluster.nodes },
        7,
      );
      expect(purged.keys).toEqual({ before: 50, deleted: 50, after: 0 });
      expect(await client.exists(...Array.from({ length: 50 }, (_, n) => `{t70}:cache:${n}`))).toBe(50);
      expect(await client.exists(...Array.from({ length: 50 }, (_, n) => `{t3}:cache:${n}`))).toBe(50);
    } finally {
      client.disconnect();
      await cluster.stop();
    }
  });
});
