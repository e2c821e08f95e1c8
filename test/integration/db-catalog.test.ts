import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import dbCheck from '../../src/cli/db-check.js';
import { checkCatalog } from '../../src/db/catalog-check.js';
import { connectionUrl } from '../../src/db/setup.js';
import { createTestDatabase, type TestDatabase, withClient } from '../helpers/db.js';

// Security catalogue §A1-A3, A10, A14, A15, G9: the catalog check itself, and the runtime
// role's powers checked directly as that role. Row-level behaviour is in db-rls.test.ts.
let db: TestDatabase;
const TENANT_TABLES = ['app.members', 'app.projects', 'app.tasks'];
const ident = pg.escapeIdentifier;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db?.drop());

const asRuntime = <T>(fn: (client: pg.Client) => Promise<T>) => withClient(db.appUrl, fn);
const asOwner = <T>(fn: (client: pg.Client) => Promise<T>) => withClient(db.ownerUrl, fn);
const sqlstate = (code: string) => expect.objectContaining({ code });

describe('checkCatalog', () => {
  it('passes on the migrated database', async () => {
    expect(await checkCatalog(db.appUrl)).toEqual([]);
  });

  it('names a tenant table without forced row level security or a complete policy', async () => {
    await asOwner((c) => c.query('CREATE TABLE app.leaky (tenant_id integer NOT NULL, secret text)'));
    try {
      expect(await checkCatalog(db.appUrl)).toEqual([
        'app.leaky: row level security is not enabled',
        'app.leaky: row level security is not forced',
        expect.stringMatching(/^app\.leaky: no policy for all commands/),
      ]);
      // USING without WITH CHECK would let an UPDATE move a row to another tenant.
      await asOwner((c) =>
        c.query(`ALTER TABLE app.leaky ENABLE ROW LEVEL SECURITY;
          CREATE POLICY p ON app.leaky FOR ALL USING (tenant_id = (SELECT app.current_tenant_id()))`),
      );
      expect(await checkCatalog(db.appUrl)).toEqual([
        'app.leaky: row level security is not forced',
        expect.stringMatching(/^app\.leaky: no policy/),
      ]);
    } finally {
      await asOwner((c) => c.query('DROP TABLE app.leaky'));
    }
  });

  it('names definer functions without a pinned search_path and views that run as their owner', async () => {
    await asOwner((c) =>
      c.query(`CREATE FUNCTION app.definer() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1';
        CREATE VIEW app.all_projects AS SELECT * FROM app.projects;
        GRANT SELECT ON app.all_projects TO ${ident(inject('roles').app.name)}`),
    );
    try {
      expect(await checkCatalog(db.appUrl)).toEqual([
        'app.all_projects: readable view without security_invoker',
        'app.definer(): SECURITY DEFINER without a pinned search_path',
      ]);
      await asOwner((c) => c.query('ALTER VIEW app.all_projects SET (security_invoker = on)'));
      expect(await checkCatalog(db.appUrl)).toEqual([
        'app.definer(): SECURITY DEFINER without a pinned search_path',
      ]);
    } finally {
      await asOwner((c) => c.query('DROP FUNCTION app.definer(); DROP VIEW app.all_projects'));
    }
  });

  it('names a VOLATILE SECURITY DEFINER function the runtime role can execute (catalogue G9)', async () => {
    const runtime = ident(inject('roles').app.name);
    await asOwner((c) =>
      c.query(`CREATE FUNCTION app.rewrite() RETURNS void LANGUAGE sql SECURITY DEFINER
                 SET search_path = pg_catalog, pg_temp AS 'SELECT';
               CREATE FUNCTION app.lookup() RETURNS int LANGUAGE sql STABLE SECURITY DEFINER
                 SET search_path = pg_catalog, pg_temp AS 'SELECT 1';
               GRANT EXECUTE ON FUNCTION app.lookup() TO ${runtime}`),
    );
    try {
      // Not granted (PUBLIC has no EXECUTE on the owner's functions), or STABLE: fine.
      expect(await checkCatalog(db.appUrl)).toEqual([]);
      await asOwner((c) => c.query(`GRANT EXECUTE ON FUNCTION app.rewrite() TO ${runtime}`));
      expect(await checkCatalog(db.appUrl)).toEqual([
        'app.rewrite(): VOLATILE SECURITY DEFINER, executable by the runtime role',
      ]);
    } finally {
      await asOwner((c) => c.query('DROP FUNCTION app.rewrite(); DROP FUNCTION app.lookup()'));
    }
    expect(await checkCatalog(db.appUrl)).toEqual([]);
  });

  it('names tenant ids drawn from a shared sequence, and sequences the runtime role can read (catalogue A15)', async () => {
    await asOwner((c) =>
      c.query(`CREATE TABLE app.counted (tenant_id integer NOT NULL, id bigint GENERATED ALWAYS AS IDENTITY,
                 serial_id serial);
               ALTER TABLE app.counted ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
               CREATE POLICY p ON app.counted FOR ALL USING (tenant_id = (SELECT app.current_tenant_id()))
                 WITH CHECK (tenant_id = (SELECT app.current_tenant_id()));
               CREATE SEQUENCE app.tickets;
               GRANT SELECT ON SEQUENCE app.tickets TO ${ident(inject('roles').app.name)}`),
    );
    try {
      expect(await checkCatalog(db.appUrl)).toEqual([
        'app.counted.id: ids from a sequence every tenant shares',
        'app.counted.serial_id: ids from a sequence every tenant shares',
        'app.tickets: sequence the runtime role can read or advance',
      ]);
    } finally {
      await asOwner((c) => c.query('DROP TABLE app.counted; DROP SEQUENCE app.tickets'));
    }
  });

  it('backs `tenantql db check`: ok and exit 0, or one problem a line and exit 1', async () => {
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    // No dedicated tenants here: files of the working directory must not count.
    const env = {
      DATABASE_URL: db.appUrl,
      TENANTS_FILE: '/nonexistent/tenants.json',
      TENANT_SECRETS_FILE: '/nonexistent/secrets.json',
    };
    try {
      expect(await dbCheck([], env)).toBe(0);
      await asOwner((c) => c.query('CREATE TABLE app.leaky (tenant_id integer NOT NULL)'));
      expect(await dbCheck([], env)).toBe(1);
      expect(stdout.mock.calls.map((call) => String(call[0])).join('')).toMatch(
        /^ok\napp\.leaky: row level security is not enabled\n/,
      );
    } finally {
      stdout.mockRestore();
      await asOwner((c) => c.query('DROP TABLE IF EXISTS app.leaky'));
    }
  });

  // Roles are cluster-wide and shared by every test file of the run, so these use probe
  // roles instead of changing the runtime role itself; the check only looks at current_user.
  it('flags a role that is a member of the owner role, or has BYPASSRLS', async () => {
    const roles = inject('roles');
    const member = `${inject('templateDatabase')}_probe_member`;
    const bypass = `${inject('templateDatabase')}_probe_bypass`;
    const su = db.superuserUrl;
    await withClient(su, (c) =>
      c.query(`CREATE ROLE ${ident(member)} LOGIN PASSWORD 'probe' IN ROLE ${ident(roles.owner.name)};
        CREATE ROLE ${ident(bypass)} LOGIN PASSWORD 'probe' BYPASSRLS;
        GRANT CONNECT ON DATABASE ${ident(db.name)} TO ${ident(member)}, ${ident(bypass)}`),
    );
    try {
      // Membership also inherits the owner's CREATE rights, reported on their own lines.
      expect(await checkCatalog(connectionUrl(db.appUrl, db.name, member, 'probe'))).toEqual(
        expect.arrayContaining([
          expect.stringMatching(
            new RegExp(`^role ${member}: member of role ${roles.owner.name}, which owns database`),
          ),
          'schema app: the runtime role may CREATE in it',
        ]),
      );
      expect(await checkCatalog(connectionUrl(db.appUrl, db.name, bypass, 'probe'))).toEqual([
        `role ${bypass}: has BYPASSRLS`,
      ]);
    } finally {
      await withClient(su, (c) =>
        c.query(`REVOKE CONNECT ON DATABASE ${ident(db.name)} FROM ${ident(member)}, ${ident(bypass)};
          DROP ROLE ${ident(member)}; DROP ROLE ${ident(bypass)}`),
      );
    }
  });
});

describe('the runtime role', () => {
  it('is no superuser, cannot bypass RLS, and cannot SET ROLE to the owner', async () => {
    await asRuntime(async (c) => {
      const { rows } = await c.query(
        'SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user',
      );
      expect(rows).toEqual([
        { rolsuper: false, rolbypassrls: false, rolcreaterole: false, rolcreatedb: false },
      ]);
      await expect(c.query(`SET ROLE ${ident(inject('roles').owner.name)}`)).rejects.toEqual(
        sqlstate('42501'),
      );
    });
  });

  it('errors on every RLS table under row_security = off instead of bypassing it', async () => {
    await asRuntime(async (c) => {
      const { rows } = await c.query<{ name: string }>(`
        SELECT format('%I.%I', n.nspname, c.relname) AS name FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p') AND n.nspname = 'app' AND c.relrowsecurity ORDER BY 1`);
      const tables = rows.map((row) => row.name);
      expect(tables).toEqual(expect.arrayContaining([...TENANT_TABLES, 'app.tenants']));
      for (const table of tables) {
        await c.query('BEGIN');
        await c.query('SET LOCAL row_security = off');
        await expect(c.query(`SELECT 1 FROM ${table} LIMIT 1`), table).rejects.toEqual(sqlstate('42501'));
        await c.query('ROLLBACK');
      }
    });
  });

  // No sequences are left to read (ids are numbered per tenant): see tenant-row-ids.test.ts.
  it('has DML only: no TRUNCATE, CREATE, TEMP or tenants writes', async () => {
    await asRuntime(async (c) => {
      const attempts = [
        'TRUNCATE app.tasks',
        'CREATE TABLE app.mine (id int)',
        'CREATE TABLE public.mine (id int)',
        'CREATE TEMP TABLE mine (id int)',
        "INSERT INTO app.tenants (id, subdomain, name, kind) VALUES (7, 'x', 'x', 'regular')",
        'UPDATE app.tenants SET disabled = true',
        'SELECT * FROM app_meta.migrations',
      ];
      for (const sql of attempts) await expect(c.query(sql), sql).rejects.toEqual(sqlstate('42501'));
      const { rows } = await c.query(
        "SELECT has_table_privilege('app.tasks', 'TRUNCATE, REFERENCES, TRIGGER') AS other",
      );
      expect(rows[0].other).toBe(false);
    });
  });
});
