import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  type EmbeddedPostgres,
  embeddedPostgresAvailable,
  startEmbeddedPostgres,
} from '../../src/db/embedded.js';
import { tenantqlInProcess } from '../helpers/run-command.js';

const NAME = 'hbatest';
const env = { DATABASE_URL: `postgres://${NAME}_app:secret@127.0.0.1:1/${NAME}` };
const tenantsFile = {
  baseDomain: 'localhost',
  tenants: [
    { id: 1, subdomain: 'admin', name: 'System' },
    { id: 3, subdomain: 'shared', name: 'Shared' },
    { id: 7, subdomain: 'beta', name: 'Beta', isolation: 'database' },
    { id: 5, subdomain: 'acme', name: 'Acme', isolation: 'database' },
  ],
};

let dir: string;
let file: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tenantql-hba-'));
  file = join(dir, 'tenants.json');
  await writeFile(file, JSON.stringify(tenantsFile));
});
afterAll(() => rm(dir, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

/** `tenantql db hba ...args` in process, as bin/tenantql runs it. */
const dbHba = (args: string[], environment: NodeJS.ProcessEnv = env) =>
  tenantqlInProcess(['db', 'hba', ...args], environment);

const rulesOf = (text: string) =>
  text
    .split('\n')
    .map((line, i) => ({ line, number: i + 1 }))
    .filter(({ line }) => line && !line.startsWith('#'));

describe('tenantql db hba', () => {
  it('prints the lines for the dedicated tenants of --file, connecting to nothing', async () => {
    // DATABASE_URL names a closed port: a command that connected would fail.
    const { code, stdout, stderr } = await dbHba(['--file', file]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(rulesOf(stdout).map(({ line }) => line.split(/\s+/).join(' '))).toEqual([
      'host hbatest hbatest_t5_rw,hbatest_t5_ro all reject',
      'host hbatest hbatest_t7_rw,hbatest_t7_ro all reject',
      'host hbatest_t5 +hbatest_t5_connect all scram-sha-256',
      'host hbatest_t5 all all reject',
      'host hbatest_t7 +hbatest_t7_connect all scram-sha-256',
      'host hbatest_t7 all all reject',
    ]);
    expect(stdout).toMatch(/^# tenant 5 \(acme\)$/m);
  });

  it('reads TENANTS_FILE, and DATABASE_OWNER_URL without DATABASE_URL', async () => {
    const { code, stdout } = await dbHba(['--address', 'samenet'], {
      DATABASE_OWNER_URL: 'postgres://o:p@127.0.0.1:1/other',
      TENANTS_FILE: file,
    });
    expect(code).toBe(0);
    expect(stdout).toMatch(/^host +other_t5 +\+other_t5_connect +samenet +scram-sha-256$/m);
  });

  it('prints every problem of an invalid tenants file and exits 1', async () => {
    const bad = join(dir, 'bad.json');
    await writeFile(
      bad,
      JSON.stringify({
        baseDomain: 'localhost',
        tenants: [
          { id: 1, subdomain: 'admin', name: 'System' },
          { id: 81, subdomain: 'peer', name: 'Peer', isolation: 'database' },
          { id: 5, subdomain: 'Acme', name: 'Acme', isolation: 'separate' },
        ],
      }),
    );
    const { code, stdout, stderr } = await dbHba(['--file', bad]);
    expect({ code, stdout }).toEqual({ code: 1, stdout: '' });
    expect(stderr).toMatch(/^tenants\[1\]\.isolation: only regular tenants/m);
    expect(stderr).toMatch(/^tenants\[2\]\.subdomain: /m);
    expect(stderr).toMatch(/^tenants\[2\]\.isolation: must be "shared" or "database"/m);
  });

  it.each([
    [['--address', '10.0.0.1'], env],
    [['--address', 'db.example.com'], env],
    [['--file', 'x.json'], {}],
    [['--file', 'x.json'], { DATABASE_URL: 'not a url' }],
  ])('%j with %j is a usage error (exit 2)', async (args, environment) => {
    const { code, stdout, stderr } = await dbHba(args, environment);
    expect({ code, stdout }).toEqual({ code: 2, stdout: '' });
    expect(stderr).toMatch(/^tenantql db hba: .*\nusage: tenantql db hba /);
  });
});

/**
 * The printed lines installed in a cluster of their own (the run's shared cluster serves every
 * other test file, so its pg_hba.conf stays as it is), ahead of a broader line as the header
 * says, and tried with real SCRAM logins over TCP. CONNECT stays granted to PUBLIC on every
 * database: whatever is refused here, pg_hba.conf refused.
 */
describe.skipIf(!(await embeddedPostgresAvailable()))('the printed lines, in a PostgreSQL cluster', () => {
  const PASSWORD = 'hba-test-pw';
  let cluster: EmbeddedPostgres;
  let dataDir: string;
  let hbaFile: string;
  let printed: string;
  const ident = pg.escapeIdentifier;

  const superuser = async <T>(run: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: cluster.superuserUrl });
    await client.connect();
    try {
      return await run(client);
    } finally {
      await client.end();
    }
  };
  /** Logs in as `user` with `password` over TCP: who the server says we are, or the SQLSTATE. */
  const login = async (user: string, database: string, password = PASSWORD) => {
    const url = new URL(cluster.superuserUrl);
    Object.assign(url, { username: user, password, pathname: `/${database}` });
    const client = new pg.Client({ connectionString: url.toString() });
    try {
      await client.connect();
      const { rows } = await client.query('SELECT current_user AS "user", current_database() AS database');
      return rows[0] as { user: string; database: string };
    } catch (error) {
      const { code, message } = error as { code?: string; message: string };
      return { code, message };
    } finally {
      await client.end().catch(() => {});
    }
  };

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tenantql-hba-pg-'));
    cluster = await startEmbeddedPostgres({ dataDir, ephemeral: true });
    const owner = `${NAME}_owner`;
    await superuser(async (c) => {
      hbaFile = (await c.query<{ hba_file: string }>('SHOW hba_file')).rows[0]!.hba_file;
      await c.query(`CREATE ROLE ${owner} LOGIN PASSWORD '${PASSWORD}'`);
      await c.query(`CREATE ROLE ${NAME}_app LOGIN PASSWORD '${PASSWORD}'`);
      await c.query(`CREATE DATABASE ${NAME} OWNER ${owner}`);
      for (const id of [5, 7]) {
        const db = `${NAME}_t${id}`;
        await c.query(`CREATE ROLE ${db}_connect NOLOGIN`);
        for (const role of [`${db}_rw`, `${db}_ro`]) {
          await c.query(`CREATE ROLE ${ident(role)} LOGIN PASSWORD '${PASSWORD}' IN ROLE ${db}_connect`);
        }
        // As `tenants provision` does: the shared owner joins every tenant's group.
        await c.query(`GRANT ${db}_connect TO ${owner}`);
        await c.query(`CREATE DATABASE ${db}`);
      }
    });
    printed = (await dbHba(['--file', file])).stdout;
    // Ours first, then the broader line every default pg_hba.conf has in some form.
    await writeFile(hbaFile, `${printed}\nhost  all  all  all  scram-sha-256\n`);
    await superuser((c) => c.query('SELECT pg_reload_conf()'));
  });
  afterAll(async () => {
    await cluster?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it("parses as PostgreSQL's own parser reads it (pg_hba_file_rules), line by line", async () => {
    const rows = await superuser(async (c) => (await c.query('SELECT * FROM pg_hba_file_rules')).rows);
    expect(rows.filter((row) => row.error !== null)).toEqual([]);
    const ours = rulesOf(printed).map(({ line, number }) => {
      const [type, database, users, address, method] = line.split(/\s+/);
      return {
        line_number: number,
        type,
        database: [database],
        user_name: users!.split(','),
        address,
        auth_method: method,
      };
    });
    expect(
      rows.slice(0, ours.length).map(({ line_number, type, database, user_name, address, auth_method }) => ({
        line_number,
        type,
        database,
        user_name,
        address,
        auth_method,
      })),
    ).toEqual(ours);
    expect(rows).toHaveLength(ours.length + 1);
  });

  it('parses with a CIDR or samenet as the address too', async () => {
    for (const address of ['127.0.0.1/32', 'fd00::/8', 'samenet']) {
      const { stdout } = await dbHba(['--file', file, '--address', address]);
      await writeFile(hbaFile, stdout);
      const rows = await superuser(
        async (c) => (await c.query('SELECT address, netmask, error FROM pg_hba_file_rules')).rows,
      );
      expect(rows.filter((row) => row.error !== null)).toEqual([]);
      expect(rows.map((row) => row.address)).toContain(address.split('/')[0]);
    }
    // The file is read on reload only: what serves below is still the default run's lines.
    await writeFile(hbaFile, `${printed}\nhost  all  all  all  scram-sha-256\n`);
  });

  it.each([
    // The tenant's own roles, and the shared owner (which migrates it), reach its database.
    [`${NAME}_t5_rw`, `${NAME}_t5`],
    [`${NAME}_t5_ro`, `${NAME}_t5`],
    [`${NAME}_t7_rw`, `${NAME}_t7`],
    [`${NAME}_owner`, `${NAME}_t5`],
    // The shared roles keep the shared database: the reject lines name the tenants' roles.
    [`${NAME}_owner`, NAME],
    [`${NAME}_app`, NAME],
  ])('lets %s into %s with its password', async (user, database) => {
    expect(await login(user, database)).toEqual({ user, database });
    // A real password check, not trust: the allow line asks for scram-sha-256.
    expect(await login(user, database, 'wrong')).toMatchObject({ code: '28P01' });
  });

  it.each([
    // The tenant's roles, on the shared database and on another tenant's.
    [`${NAME}_t5_rw`, NAME],
    [`${NAME}_t5_ro`, NAME],
    [`${NAME}_t5_rw`, `${NAME}_t7`],
    [`${NAME}_t7_ro`, `${NAME}_t5`],
    // The shared runtime role is no member of the group.
    [`${NAME}_app`, `${NAME}_t5`],
    // Nor is a superuser: the header tells the operator to add a line of their own for it.
    ['postgres', `${NAME}_t5`],
  ])('rejects %s on %s in pg_hba.conf, before any password', async (user, database) => {
    expect(await login(user, database)).toMatchObject({
      code: '28000',
      message: expect.stringMatching(/pg_hba\.conf rejects connection/),
    });
  });
});
