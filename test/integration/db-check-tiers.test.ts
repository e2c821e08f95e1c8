import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type DedicatedNames, dedicatedNames } from '../../src/tiers/names.js';
import { writeSecretsFile } from '../../src/tiers/secrets-file.js';
import { defaultTenants } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase, withClient } from '../helpers/db.js';
import { tenantqlInProcess } from '../helpers/run-command.js';
import { asSuperuserIn, credentialsOf, provisionDedicated } from '../helpers/tiers.js';

// SPEC §10: `tenantql db check` also covers each dedicated database: forced RLS inside, the
// tenant's login roles, and who may CONNECT where. Tenants 5 (A) and 6 (B) are dedicated; each
// break below is made as the superuser, must show as the one problem it is, and is undone.
const tenants = {
  ...defaultTenants,
  tenants: [
    ...defaultTenants.tenants,
    { id: 5, subdomain: 'vault', name: 'Vault', isolation: 'database' },
    { id: 6, subdomain: 'bunker', name: 'Bunker', isolation: 'database' },
  ],
};
const ident = pg.escapeIdentifier;

let db: TestDatabase;
let dir: string;
let secretsFile: string;
let tenantsFile: string;
let env: NodeJS.ProcessEnv;
let a: DedicatedNames;
let b: DedicatedNames;

beforeAll(async () => {
  db = await createTestDatabase();
  dir = await mkdtemp(join(tmpdir(), 'tenantql-db-check-'));
  secretsFile = join(dir, 'secrets', 'tenants.json');
  tenantsFile = join(dir, 'tenants.json');
  await writeFile(tenantsFile, JSON.stringify(tenants));
  await provisionDedicated(db, secretsFile, tenants);
  a = dedicatedNames(db.name, 5);
  b = dedicatedNames(db.name, 6);
  env = {
    DATABASE_URL: db.appUrl,
    DATABASE_OWNER_URL: db.ownerUrl,
    TENANT_SECRETS_FILE: secretsFile,
    TENANTS_FILE: tenantsFile,
  };
});
afterAll(async () => {
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** `tenantql db check` in process, as bin/tenantql runs it. */
const dbCheck = (environment: NodeJS.ProcessEnv = env) => tenantqlInProcess(['db', 'check'], environment);

const runtimeRole = () => inject('roles').app.name;
const inMain = (sql: string) => withClient(db.superuserUrl, (c) => c.query(sql));
const inA = (sql: string) => asSuperuserIn(db, 5, (c) => c.query(sql));
const linesOf = (stdout: string) => stdout.split('\n').filter(Boolean);

interface Break {
  name: string;
  run: (sql: string) => Promise<unknown>;
  make: () => string;
  undo: () => string;
  lines: () => string[];
}

const A = () => `tenant 5 (database ${a.database})`;
const B = () => `tenant 6 (database ${b.database})`;

const BREAKS: Break[] = [
  {
    name: 'a tenant table without forced RLS inside A',
    run: inA,
    make: () => 'ALTER TABLE app.projects NO FORCE ROW LEVEL SECURITY',
    undo: () => 'ALTER TABLE app.projects FORCE ROW LEVEL SECURITY',
    lines: () => [`${A()}: app.projects: row level security is not forced`],
  },
  {
    name: "A's _rw with CONNECT on the shared database",
    run: inMain,
    make: () => `GRANT CONNECT ON DATABASE ${ident(db.name)} TO ${ident(a.rw)}`,
    undo: () => `REVOKE CONNECT ON DATABASE ${ident(db.name)} FROM ${ident(a.rw)}`,
    lines: () => [`${A()}: role ${a.rw}: may connect to the shared database ${db.name}`],
  },
  {
    name: "A's _ro with CONNECT on B's database",
    run: inMain,
    make: () => `GRANT CONNECT ON DATABASE ${ident(b.database)} TO ${ident(a.ro)}`,
    undo: () => `REVOKE CONNECT ON DATABASE ${ident(b.database)} FROM ${ident(a.ro)}`,
    lines: () => [`${A()}: role ${a.ro}: may connect to database ${b.database}, tenant 6's`],
  },
  {
    name: "the shared runtime role with CONNECT on A's database",
    run: inMain,
    make: () => `GRANT CONNECT ON DATABASE ${ident(a.database)} TO ${ident(runtimeRole())}`,
    undo: () => `REVOKE CONNECT ON DATABASE ${ident(a.database)} FROM ${ident(runtimeRole())}`,
    lines: () => [`${A()}: the shared runtime role ${runtimeRole()} may connect to it`],
  },
  {
    name: "PUBLIC with CONNECT on A's database (so the runtime role and B's roles too)",
    run: inMain,
    make: () => `GRANT CONNECT ON DATABASE ${ident(a.database)} TO PUBLIC`,
    undo: () => `REVOKE CONNECT ON DATABASE ${ident(a.database)} FROM PUBLIC`,
    lines: () => [
      `${A()}: the shared runtime role ${runtimeRole()} may connect to it`,
      `${A()}: PUBLIC may connect to it (REVOKE CONNECT … FROM PUBLIC)`,
      `${B()}: role ${b.ro}: may connect to database ${a.database}, tenant 5's`,
      `${B()}: role ${b.rw}: may connect to database ${a.database}, tenant 5's`,
    ],
  },
  {
    name: "INSERT granted to A's _ro directly",
    run: inA,
    make: () => `GRANT INSERT ON app.projects TO ${ident(a.ro)}`,
    undo: () => `REVOKE INSERT ON app.projects FROM ${ident(a.ro)}`,
    lines: () => [`${A()}: role ${a.ro}: may INSERT on app.projects (it must only read)`],
  },
  {
    name: "A's _ro with BYPASSRLS",
    run: inMain,
    make: () => `ALTER ROLE ${ident(a.ro)} BYPASSRLS`,
    undo: () => `ALTER ROLE ${ident(a.ro)} NOBYPASSRLS`,
    lines: () => [`${A()}: role ${a.ro}: has BYPASSRLS`],
  },
  {
    name: "A's _rw with CREATEDB",
    run: inMain,
    make: () => `ALTER ROLE ${ident(a.rw)} CREATEDB`,
    undo: () => `ALTER ROLE ${ident(a.rw)} NOCREATEDB`,
    lines: () => [`${A()}: role ${a.rw}: has CREATEDB`],
  },
  {
    name: "a VOLATILE SECURITY DEFINER function A's _ro may execute",
    run: inA,
    make: () => `GRANT EXECUTE ON FUNCTION app.sync_tenants(jsonb) TO ${ident(a.admin)}`,
    undo: () => `REVOKE EXECUTE ON FUNCTION app.sync_tenants(jsonb) FROM ${ident(a.admin)}`,
    lines: () => [`${A()}: app.sync_tenants(jsonb): VOLATILE SECURITY DEFINER, executable by role ${a.ro}`],
  },
];

describe('tenantql db check with dedicated tenants', () => {
  it('prints ok for two freshly provisioned dedicated tenants', async () => {
    expect(await dbCheck()).toEqual({ code: 0, stdout: 'ok\n', stderr: '' });
  });

  it.each(BREAKS)('names $name, and only that', async (broken) => {
    await broken.run(broken.make());
    try {
      const { code, stdout, stderr } = await dbCheck();
      expect({ code, stderr }).toEqual({ code: 1, stderr: '' });
      expect(linesOf(stdout)).toEqual(broken.lines());
    } finally {
      await broken.run(broken.undo());
    }
    expect((await dbCheck()).stdout).toBe('ok\n');
  });

  it('names a tenant placed in a database of its own without credentials, and credentials that do not log in', async () => {
    const partial = join(dir, 'partial', 'tenants.json');
    const known = await credentialsOf(secretsFile, 5);
    await writeSecretsFile(partial, new Map([[5, { ...known, rw: { ...known.rw, password: 'wrong' } }]]));
    const { code, stdout, stderr } = await dbCheck({ ...env, TENANT_SECRETS_FILE: partial });
    expect({ code, stderr }).toEqual({ code: 1, stderr: '' });
    expect(linesOf(stdout)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^${literally(A())}: cannot connect as ${a.rw}: PostgreSQL at .* refused the password of user "${a.rw}": check ${literally(partial)}$`,
        ),
      ),
      `${B()}: ${tenantsFile} gives it "isolation": "database" and app.tenants places it in a database of its own, but ${partial} has no credentials for it; run \`tenantql tenants provision 6\``,
    ]);
    expect(stdout).not.toContain(known.rw.password);
  });

  it('reads no placements without DATABASE_OWNER_URL or DATABASE_ADMIN_URL, and a missing secrets file means no dedicated tenant', async () => {
    const { DATABASE_OWNER_URL: _, ...withoutOwner } = env;
    const missing = join(dir, 'none', 'tenants.json');
    const noFile = join(dir, 'none.json');
    expect(await dbCheck({ ...withoutOwner, TENANT_SECRETS_FILE: missing, TENANTS_FILE: noFile })).toEqual({
      code: 0,
      stdout: 'ok\n',
      stderr: '',
    });
  });
});

function literally(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
