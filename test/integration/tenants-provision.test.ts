import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { LoadProduct } from '../../src/cli/command.js';
import { keysDatabaseOf } from '../../src/db/keys-database.js';
import { connectionUrl, setupDatabase } from '../../src/db/setup.js';
import { demoMigrationsDir } from '../../src/example/migrations.js';
import type { Product } from '../../src/product.js';
import { dedicatedNames } from '../../src/tiers/names.js';
import { DEDICATED_RANDOM_PAGE_COST, provisionTenant } from '../../src/tiers/provision.js';
import { TEST_MASTER_KEY } from '../helpers/app.js';
import { exampleTenants, syncTenants, type TestDatabase, withClient } from '../helpers/db.js';
import { tenantqlInProcess } from '../helpers/run-command.js';
import { asSuperuserIn, credentialsOf, tenantsOf } from '../helpers/tiers.js';
import { OwnCluster, OwnServer } from '../helpers/valkey.js';

// SPEC §10, §11: `tenantql tenants provision ID` and `tenantql migrate` for dedicated tenants,
// run in process as bin/tenantql runs them, against a real PostgreSQL.
const tenants = {
  baseDomain: 'localhost',
  tenants: [
    { id: 1, subdomain: 'admin', name: 'System' },
    { id: 2, subdomain: 'tenant1', name: 'Tenant One' },
    { id: 5, subdomain: 'vault', name: 'Vault', isolation: 'database' },
    { id: 81, subdomain: 'reports', name: 'Reports service', grants: [2, 5] },
  ],
};

let db: Pick<TestDatabase, 'name' | 'appUrl' | 'ownerUrl' | 'superuserUrl'>;
let dir: string;
let env: NodeJS.ProcessEnv;
let products: string;

beforeAll(async () => {
  // A database of its own, made by `db setup` (not a clone of the run's template): `migrate`
  // runs on it again below, and the template's migrations name the template's roles. The run's
  // prefix lets the global teardown remove it even if this file crashes.
  const name = `${inject('templateDatabase')}_pv${randomBytes(3).toString('hex')}`;
  const urls = await setupDatabase({
    superuserUrl: inject('superuserUrl'),
    database: name,
    productMigrations: demoMigrationsDir,
  });
  db = {
    name,
    appUrl: urls.databaseUrl,
    ownerUrl: urls.ownerUrl,
    superuserUrl: connectionUrl(inject('superuserUrl'), name),
  };
  await syncTenants(
    db.ownerUrl,
    exampleTenants.filter((t) => t.id <= 3),
  );
  dir = await mkdtemp(join(tmpdir(), 'tenantql-provision-'));
  await writeFile(join(dir, 'tenants.json'), JSON.stringify(tenants));
  // The demo's migrations, in a folder of this test's: the last test adds one.
  products = join(dir, 'migrations');
  await cp(demoMigrationsDir, products, { recursive: true });
  env = {
    DATABASE_SUPERUSER_URL: db.superuserUrl,
    DATABASE_URL: db.appUrl,
    DATABASE_OWNER_URL: db.ownerUrl,
    TENANTS_FILE: join(dir, 'tenants.json'),
    TENANT_SECRETS_FILE: join(dir, 'secrets', 'tenants.json'),
    TENANT_MASTER_KEY: TEST_MASTER_KEY,
  };
});
afterAll(async () => {
  await withClient(inject('superuserUrl'), async (c) => {
    const { rows } = await c.query<{ datname: string }>(
      'SELECT datname FROM pg_database WHERE datname = $1 OR starts_with(datname, $2)',
      [db.name, `${db.name}_`], // its dedicated tenants' (_t<ID>) and its key store (_keys)
    );
    for (const { datname } of rows)
      await c.query(`DROP DATABASE ${pg.escapeIdentifier(datname)} WITH (FORCE)`);
    const roles = await c.query<{ rolname: string }>(
      'SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)',
      [`${db.name}_`],
    );
    for (const { rolname } of roles.rows) await c.query(`DROP ROLE ${pg.escapeIdentifier(rolname)}`);
  });
  await rm(dir, { recursive: true, force: true });
});

const product: LoadProduct = async () => ({ migrations: products }) as Product;

const tenantql = (args: string[]) => tenantqlInProcess(args, env, product);

const verifiers = (names: string[]) =>
  withClient(db.superuserUrl, async (c) => {
    const { rows } = await c.query<{ rolname: string; rolpassword: string }>(
      'SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY($1) ORDER BY rolname',
      [names],
    );
    return rows;
  });

/** The tenant's wrapped data key in the key store beside the main database (SPEC §12). */
function wrappedKeyOf(tenantId: number): Promise<Buffer | undefined> {
  return withClient(connectionUrl(db.superuserUrl, keysDatabaseOf(db.name)), async (c) => {
    const { rows } = await c.query('SELECT wrapped FROM keys.data_keys WHERE tenant_id = $1', [tenantId]);
    return rows[0]?.wrapped;
  });
}

describe('tenantql tenants provision', () => {
  it('creates the database and roles, writes the credentials 0600, and prints no password', async () => {
    const run = await tenantql(['tenants', 'provision', '5']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const names = dedicatedNames(db.name, 5);
    expect(run.stdout).toContain(`tenant 5 (vault): database ${names.database} created`);
    // Its data key (SPEC §12), wrapped, in the key store beside the main database.
    expect(run.stdout).toContain('tenant 5 (vault): data key made\n');
    expect(await wrappedKeyOf(5)).toBeInstanceOf(Buffer);
    const secrets = await credentialsOf(env.TENANT_SECRETS_FILE!, 5);
    expect(secrets).toMatchObject({
      database: names.database,
      rw: { user: names.rw },
      ro: { user: names.ro },
    });
    expect(run.stdout).not.toContain(secrets.rw.password);
    expect(run.stdout).not.toContain(secrets.ro.password);
    expect((await stat(env.TENANT_SECRETS_FILE!)).mode & 0o777).toBe(0o600);
    expect((await stat(dirname(env.TENANT_SECRETS_FILE!))).mode & 0o777).toBe(0o700);

    // The placement is the fact in the main database; inside, forced RLS is the second wall.
    await withClient(db.superuserUrl, async (c) => {
      const { rows } = await c.query('SELECT isolation FROM app.tenants WHERE id = 5');
      expect(rows).toEqual([{ isolation: 'database' }]);
      // Who ran it, on record (SPEC §11).
      const events = await c.query(
        "SELECT command, actor, detail->>'database' AS db FROM app.lifecycle_events WHERE tenant = 5",
      );
      expect(events.rows).toEqual([
        { command: 'provision', actor: expect.stringMatching(/^.+@.+ as .+$/), db: names.database },
      ]);
    });
    // The runtime role serves tenants: it may not read who ran what for which tenant.
    const denied = await withClient(db.appUrl, (c) =>
      c.query('SELECT 1 FROM app.lifecycle_events').then(
        () => 'read',
        (error: { code?: string }) => error.code,
      ),
    );
    expect(denied).toBe('42501');
    await asSuperuserIn(db, 5, async (c) => {
      const { rows } = await c.query<{ relname: string }>(
        `SELECT c.relname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id'
          WHERE c.relkind = 'r' AND NOT (c.relrowsecurity AND c.relforcerowsecurity)`,
      );
      expect(rows).toEqual([]);
      const owners = await c.query<{ owner: string }>(
        `SELECT DISTINCT pg_get_userbyid(relowner) AS owner FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'app'`,
      );
      expect(owners.rows).toEqual([{ owner: names.owner }]);
      // Only the tenant itself and the possible virtual tenants are in its tenants table.
      const known = await c.query<{ id: number }>('SELECT id FROM app.tenants ORDER BY id');
      expect(known.rows.map((r) => r.id)).toEqual([5, ...Array.from({ length: 20 }, (_, i) => 80 + i)]);
    });
  });

  it('run again keeps the data and the passwords; --rotate changes the passwords only', async () => {
    const names = dedicatedNames(db.name, 5);
    await asSuperuserIn(db, 5, (c) =>
      c.query("INSERT INTO app.projects (tenant_id, name) VALUES (5, 'kept')"),
    );
    const before = await credentialsOf(env.TENANT_SECRETS_FILE!, 5);
    const verifiersBefore = await verifiers([names.rw, names.ro]);
    const key = await wrappedKeyOf(5);

    const again = await tenantql(['tenants', 'provision', '5']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('kept, migrations up to date');
    expect(again.stdout).toContain('passwords of');
    expect(again.stdout).toContain('tenant 5 (vault): data key kept\n');
    expect(await wrappedKeyOf(5)).toEqual(key);
    expect(await credentialsOf(env.TENANT_SECRETS_FILE!, 5)).toEqual(before);
    expect(await verifiers([names.rw, names.ro])).toEqual(verifiersBefore);

    const rotated = await tenantql(['tenants', 'provision', '5', '--rotate']);
    expect(rotated.code).toBe(0);
    const after = await credentialsOf(env.TENANT_SECRETS_FILE!, 5);
    expect(after.rw.password).not.toBe(before.rw.password);
    expect(after.ro.password).not.toBe(before.ro.password);
    const verifiersAfter = await verifiers([names.rw, names.ro]);
    expect(verifiersAfter.map((v) => v.rolpassword)).not.toContain(verifiersBefore[0]!.rolpassword);
    await asSuperuserIn(db, 5, async (c) => {
      expect((await c.query('SELECT name FROM app.projects')).rows).toEqual([{ name: 'kept' }]);
    });
  });

  it('sets random_page_cost for the database of its own, and keeps a value an operator set there', async () => {
    const { database } = dedicatedNames(db.name, 5);
    const setting = () =>
      asSuperuserIn(db, 5, async (c) => (await c.query('SHOW random_page_cost')).rows[0].random_page_cost);
    expect(await setting()).toBe(DEDICATED_RANDOM_PAGE_COST);
    // Set on the dedicated database only, never on the shared one.
    await withClient(db.superuserUrl, async (c) => {
      const shared = await c.query(
        `SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = $1`,
        [db.name],
      );
      expect(JSON.stringify(shared.rows)).not.toContain('random_page_cost');
      await c.query(`ALTER DATABASE "${database}" SET random_page_cost = 2.5`);
    });
    expect((await tenantql(['tenants', 'provision', '5'])).code).toBe(0);
    expect(await setting()).toBe('2.5');
  });

  it('refuses a tenant whose rows are in the shared database, naming tenants move', async () => {
    await withClient(db.superuserUrl, (c) =>
      c.query("INSERT INTO app.projects (tenant_id, name) VALUES (2, 'shared row')"),
    );
    await writeFile(
      env.TENANTS_FILE!,
      JSON.stringify({
        ...tenants,
        tenants: tenants.tenants.map((t) => (t.id === 2 ? { ...t, isolation: 'database' } : t)),
      }),
    );
    const refused = await tenantql(['tenants', 'provision', '2']);
    await writeFile(env.TENANTS_FILE!, JSON.stringify(tenants));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      'tenantql tenants provision: tenant 2 has rows in the shared database (app.projects); `tenantql tenants move 2 --to database` moves them\n',
    );
    await withClient(db.superuserUrl, async (c) => {
      const { rows } = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [
        dedicatedNames(db.name, 2).database,
      ]);
      expect(rows).toEqual([]); // nothing was created
    });
    const unknown = await tenantql(['tenants', 'provision', '77']);
    expect(unknown).toMatchObject({ code: 1, stderr: expect.stringContaining('no regular tenant 77 in') });
    const usage = await tenantql(['tenants', 'provision', 'five']);
    expect(usage.code).toBe(2);
  });

  it('tenantql migrate brings every dedicated database up to date too', async () => {
    await writeFile(
      join(products, '002_notes.sql'),
      `CREATE TABLE app.notes (tenant_id integer NOT NULL REFERENCES app.tenants (id), id bigint, body text NOT NULL,
         PRIMARY KEY (tenant_id, id));
       SELECT app.make_tenant_scoped('app.notes');`,
    );
    const run = await tenantql(['migrate']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('applied product/002_notes.sql\ntenant 5: applied product/002_notes.sql\n');
    const names = dedicatedNames(db.name, 5);
    await asSuperuserIn(db, 5, async (c) => {
      const { rows } = await c.query(
        `SELECT pg_get_userbyid(relowner) AS owner, relforcerowsecurity AS forced FROM pg_class WHERE oid = 'app.notes'::regclass`,
      );
      expect(rows).toEqual([{ owner: names.owner, forced: true }]);
    });
    expect((await tenantql(['migrate'])).stdout).toBe(
      `up to date\ntenant 5 (${names.database}): up to date\n`,
    );
  });

  it("provisions of several tenants at once keep every tenant's credentials", async () => {
    const more = tenantsOf({
      baseDomain: 'localhost',
      tenants: [6, 7, 8].map((id) => ({ id, subdomain: `t${id}`, name: `T${id}`, isolation: 'database' })),
    });
    await Promise.all(
      more.map((tenant) =>
        provisionTenant({
          superuserUrl: env.DATABASE_SUPERUSER_URL!,
          mainDatabase: db.name,
          tenant,
          virtualTenants: [],
          productMigrations: products,
          secretsFile: env.TENANT_SECRETS_FILE!,
        }),
      ),
    );
    for (const id of [5, 6, 7, 8]) {
      expect((await credentialsOf(env.TENANT_SECRETS_FILE!, id)).database).toBe(
        dedicatedNames(db.name, id).database,
      );
    }
  });
});

describe('tenantql tenants provision and the Valkey ACL user', () => {
  it('makes tenant_<ID> only where tenant users are in use, confined to its prefix; kept on a re-run, new with --rotate', async () => {
    const valkey = await OwnServer.start();
    const admin = new Redis(valkey.url);
    const withValkey = { ...env, VALKEY_URL: valkey.url };
    const as = (password: string) =>
      new Redis(valkey.url, { username: 'tenant_2', password, lazyConnect: true, retryStrategy: () => null });
    const authAs = async (password: string) => {
      const probe = new Redis(valkey.url);
      try {
        return await probe.auth('tenant_2', password);
      } finally {
        probe.disconnect();
      }
    };
    try {
      const none = await tenantqlInProcess(['tenants', 'provision', '2'], withValkey, product);
      expect(none.code, none.stderr).toBe(0);
      expect(none.stdout).toContain('Valkey has no tenant ACL users, so none was made');
      expect(await admin.call('ACL', 'USERS')).toEqual(['default']);

      // As after `tenantql valkey-acl --apply`: another tenant's user exists.
      await admin.call('ACL', 'SETUSER', 'tenant_3', 'on', '>other', '~{t3}:*', '+@all');
      await admin.set('{t3}:secret', 'not yours');
      const made = await tenantqlInProcess(['tenants', 'provision', '2'], withValkey, product);
      expect(made.code, made.stderr).toBe(0);
      const line = made.stdout.split('\n').find((l) => l.startsWith('ACL SETUSER tenant_2 '))!;
      expect(line).toContain('~{t2}:*');
      const password = /\s>(\S+)/.exec(line)![1]!;
      const worker = as(password);
      await worker.connect();
      expect(await worker.set('{t2}:mine', 'ok')).toBe('OK');
      await expect(worker.get('{t3}:secret')).rejects.toThrow(/NOPERM/);
      worker.disconnect();

      const kept = await tenantqlInProcess(['tenants', 'provision', '2'], withValkey, product);
      expect(kept.stdout).toContain('Valkey ACL user tenant_2 kept');
      expect(kept.stdout).not.toContain('ACL SETUSER');
      expect(await authAs(password)).toBe('OK');

      const rotated = await tenantqlInProcess(['tenants', 'provision', '2', '--rotate'], withValkey, product);
      expect(rotated.stdout).toMatch(/Valkey ACL user tenant_2 rotated/);
      await expect(authAs(password)).rejects.toThrow(/WRONGPASS/);
    } finally {
      admin.disconnect();
      await valkey.stop();
    }
  });

  it('on a cluster, makes the user on every node; one found on some nodes only gets a new password on all', async () => {
    const cluster = await OwnCluster.start();
    const nodes = cluster.nodes.map((_, i) => cluster.node(i));
    const withCluster = { ...env, VALKEY_CLUSTER_NODES: cluster.nodes.join(',') };
    const usersOn = () => Promise.all(nodes.map((n) => n.call('ACL', 'USERS') as Promise<string[]>));
    try {
      for (const node of nodes) await node.call('ACL', 'SETUSER', 'tenant_3', 'on', '>other', '~{t3}:*');
      // As a run cut short after the first node leaves it: its password was never printed.
      await nodes[0]!.call('ACL', 'SETUSER', 'tenant_2', 'on', '>lost', '~{t2}:*', '+@all');
      const run = await tenantqlInProcess(['tenants', 'provision', '2'], withCluster, product);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toContain('Valkey ACL user tenant_2 was on some nodes only: made on every node');
      const line = run.stdout.split('\n').find((l) => l.startsWith('ACL SETUSER tenant_2 '))!;
      const password = /\s>(\S+)/.exec(line)![1]!;
      for (const users of await usersOn()) expect(users).toContain('tenant_2');
      for (const node of nodes) {
        expect(await node.call('ACL', 'DRYRUN', 'tenant_2', 'GET', '{t3}:x')).toMatch(/no permissions/);
        const probe = new Redis({ ...node.options, lazyConnect: true });
        await probe.connect();
        expect(await probe.auth('tenant_2', password)).toBe('OK');
        probe.disconnect();
      }
      const kept = await tenantqlInProcess(['tenants', 'provision', '2'], withCluster, product);
      expect(kept.stdout).toContain('Valkey ACL user tenant_2 kept');
    } finally {
      for (const node of nodes) node.disconnect();
      await cluster.stop();
    }
  });
});
