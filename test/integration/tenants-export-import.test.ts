import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectionUrl, setupDatabase } from '../../src/db/setup.js';
import { demoMigrationsDir } from '../../src/example/migrations.js';
import { demo } from '../../src/example/product.js';
import { parseGlobalId } from '../../src/graphql/ids.js';
import { exportTenant } from '../../src/lifecycle/export.js';
import { importTenant } from '../../src/lifecycle/import.js';
import { tenantTables } from '../../src/lifecycle/tables.js';
import { defaultTenants, TEST_MASTER_KEY, TestApp } from '../helpers/app.js';
import { exampleTenants, syncTenants, withClient } from '../helpers/db.js';
import { tenantqlInProcess } from '../helpers/run-command.js';
import { provisionDedicated, superuserUrlOf } from '../helpers/tiers.js';

// SPEC §11 `tenants export` and `tenants import`, on a real PostgreSQL: round trips (another id,
// the same id, a dedicated tenant), a product's own table, the refusals, one snapshot, the
// neighbours untouched, and the export rate.
const extra = [
  { id: 5, subdomain: 'vault', name: 'Vault', isolation: 'database' },
  { id: 6, subdomain: 'fresh', name: 'Fresh' },
  { id: 7, subdomain: 'empty', name: 'Empty' },
  { id: 8, subdomain: 'deep', name: 'Deep', isolation: 'database' },
  { id: 9, subdomain: 'snap', name: 'Snapshot' },
  { id: 10, subdomain: 'bulk', name: 'Bulk copy' },
];
const tenants = { ...defaultTenants, tenants: [...defaultTenants.tenants, ...extra] };
const hostOf = (id: number) =>
  `${[...defaultTenants.tenants, ...extra].find((tenant) => tenant.id === id)!.subdomain}.localhost`;

let t: TestApp;
let dir: string;
let env: NodeJS.ProcessEnv;
let neighbourBefore: Snapshot;
let neighbourAnswers: unknown;

beforeAll(async () => {
  t = await TestApp.start({
    tenants,
    prepare: async (db, secretsFile) => void (await provisionDedicated(db, secretsFile, tenants)),
  });
  dir = await mkdtemp(join(tmpdir(), 'tenantql-export-import-'));
  env = { DATABASE_OWNER_URL: t.db.ownerUrl, TENANT_MASTER_KEY: TEST_MASTER_KEY };
  for (const id of [2, 3, 5]) await seed(id);
  neighbourBefore = await snapshot(superuserUrlOf(t, 3), 3);
  neighbourAnswers = await answers(3);
});
afterAll(async () => {
  await t.close();
  await rm(dir, { recursive: true, force: true });
});

/** Members, projects, tasks (assigned, updated, one deleted), API keys (one revoked): and so an audit log. */
async function seed(tenantId: number): Promise<void> {
  const token = await t.token(tenantId);
  const host = hostOf(tenantId);
  const ask = async (query: string, variables: object = {}) => {
    const res = await t.gql(host, query, { token, variables });
    expect(res.body.errors).toBeUndefined();
    return res.body.data!;
  };
  const members: string[] = [];
  for (const name of ['Ada', 'Grace', 'Edsger']) {
    const m = await ask(
      'mutation($n: String!, $e: String!) { createMember(input: { name: $n, email: $e }) { id } }',
      {
        n: name,
        e: `${name.toLowerCase()}@t${tenantId}.example`,
      },
    );
    members.push(m.createMember.id);
  }
  for (let p = 0; p < 3; p++) {
    const project = await ask('mutation($n: String!) { createProject(input: { name: $n }) { id } }', {
      n: `Project ${p} of ${tenantId}`,
    });
    const tasks: string[] = [];
    for (let k = 0; k < 4; k++) {
      const task = await ask(
        'mutation($p: ID!, $t: String!, $a: ID) { createTask(input: { projectId: $p, title: $t, assigneeId: $a }) { id } }',
        { p: project.createProject.id, t: `Task ${k}`, a: k % 2 ? members[k % 3] : null },
      );
      tasks.push(task.createTask.id);
    }
    await ask('mutation($id: ID!) { updateTask(input: { id: $id, status: DONE }) { id } }', { id: tasks[0] });
    await ask('mutation($id: ID!) { deleteTask(id: $id) }', { id: tasks[3] });
  }
  const key = await ask('mutation { createApiKey(input: { name: "ci" }) { apiKey { id } } }');
  await ask('mutation { createApiKey(input: { name: "deploy" }) { apiKey { id } } }');
  await ask('mutation($id: ID!) { revokeApiKey(id: $id) }', { id: key.createApiKey.apiKey.id });
}

// One query per list (together they pass the cost limit), nested lists included.
const LISTS = [
  '{ members(first: 10) { totalCount edges { cursor node { id name email tasks(first: 10) { totalCount edges { cursor node { id title } } } } } } }',
  `{ projects(first: 10) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id name createdAt
     tasks(first: 10) { totalCount edges { cursor node { id title status createdAt updatedAt assignee { id name } project { id } } } } } } } }`,
  '{ apiKeys(first: 20) { totalCount edges { cursor node { id name prefix createdAt revokedAt } } } }',
  '{ auditLog(first: 50) { totalCount edges { cursor node { id at operation entityId kind subject actorTenantId } } } }',
];

/** The demo's list queries as `tenantId` answers them. */
async function answers(tenantId: number): Promise<Record<string, any>> {
  const token = await t.token(tenantId);
  const out: Record<string, any> = {};
  for (const query of LISTS) {
    const res = await t.gql(hostOf(tenantId), query, { token });
    expect(res.body.errors).toBeUndefined();
    Object.assign(out, res.body.data);
  }
  return out;
}

/** Global ids of `tenantId` with the tenant taken out (`Type:row id`): equal across tenants. */
function withoutTenant(value: unknown, tenantId: number): unknown {
  if (Array.isArray(value)) return value.map((v) => withoutTenant(v, tenantId));
  if (typeof value === 'string') {
    const parsed = parseGlobalId(value);
    return parsed && parsed.tenantId === tenantId ? `${parsed.typename}:${parsed.id}` : value;
  }
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutTenant(v, tenantId)]));
  return value;
}

/** Every row of the tenant in every table with `tenant_id` (from information_schema), as text. */
type Snapshot = Record<string, string[]>;
async function snapshot(url: string, tenantId: number, without: string[] = []): Promise<Snapshot> {
  return withClient(url, async (c) => {
    const { rows: tables } = await c.query<{ name: string }>(
      `SELECT DISTINCT format('%I.%I', table_schema, table_name) AS name FROM information_schema.columns
        WHERE column_name = 'tenant_id' AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`,
    );
    const out: Snapshot = {};
    for (const { name } of tables) {
      const { rows } = await c.query<{ r: string }>(
        `SELECT (to_jsonb(x) - $2::text[])::text AS r FROM ${name} x WHERE tenant_id = $1 ORDER BY 1`,
        [tenantId, without],
      );
      if (rows.length) out[name] = rows.map((r) => r.r);
    }
    return out;
  });
}

/**
 * The tenant's rows with `tenant_id` left out and global ids in them without their tenant. A
 * member's email and its hash are left out too: encrypted with the tenant's own key (SPEC §12),
 * they differ in another tenant; the answers compare their plaintext.
 */
async function portable(url: string, tenantId: number): Promise<unknown> {
  const rows = await snapshot(url, tenantId, ['tenant_id', 'email', 'email_hash']);
  return withoutTenant(
    Object.fromEntries(Object.entries(rows).map(([table, list]) => [table, list.map((r) => JSON.parse(r))])),
    tenantId,
  );
}

// With the demo product: its encrypted columns are re-encrypted into another tenant.
const tenantql = (args: string[]) => tenantqlInProcess(args, env, async () => demo);

async function exported(tenantId: number): Promise<string> {
  const file = join(dir, `tenant-${tenantId}-${randomBytes(3).toString('hex')}.jsonl`);
  const run = await tenantql(['tenants', 'export', String(tenantId), '--out', file]);
  expect(run.code).toBe(0);
  return file;
}

async function imported(tenantId: number, file: string) {
  const run = await tenantql(['tenants', 'import', String(tenantId), file]);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return run;
}

describe('tenantql tenants export | import', () => {
  it('round trip into a fresh tenant id: the same rows and the same answers, new rows continue after', async () => {
    const file = await exported(2);
    const run = await imported(6, file);
    expect(run.stdout).toMatch(/^tenant 6: \d+ rows of tenant 2 imported from .+\n$/);

    expect(await portable(t.db.superuserUrl, 6)).toEqual(await portable(t.db.superuserUrl, 2));
    expect(withoutTenant(await answers(6), 6)).toEqual(withoutTenant(await answers(2), 2));
    // The audit log's entity ids name the new tenant's objects, so they resolve there.
    const audit: { node: { entityId: string | null } }[] = (await answers(6)).auditLog.edges;
    const entityId = audit
      .map((e) => e.node.entityId!)
      .find((id) => parseGlobalId(id ?? '')?.typename === 'Project')!;
    expect(parseGlobalId(entityId)?.tenantId).toBe(6);
    const node = await t.gql(hostOf(6), 'query($id: ID!) { node(id: $id) { id } }', {
      token: await t.token(6),
      variables: { id: entityId },
    });
    expect(node.body.data?.node).toEqual({ id: entityId });

    // The counter came along: the next row of tenant 6 takes the id after tenant 2's last.
    const counter = async (id: number) =>
      withClient(t.db.superuserUrl, async (c) => {
        const { rows } = await c.query(
          'SELECT last_id::int AS n FROM app.tenant_row_ids WHERE tenant_id = $1',
          [id],
        );
        return rows[0]?.n as number;
      });
    const last = await counter(2);
    expect(await counter(6)).toBe(last);
    const created = await t.gql(hostOf(6), 'mutation { createProject(input: { name: "after" }) { id } }', {
      token: await t.token(6),
    });
    expect(parseGlobalId(created.body.data?.createProject.id)?.id).toBe(String(last + 1));

    await withClient(t.db.superuserUrl, async (c) => {
      const { rows } = await c.query(
        "SELECT actor, detail->>'from' AS source FROM app.lifecycle_events WHERE tenant = 6 AND command = 'import'",
      );
      expect(rows).toEqual([{ actor: expect.stringMatching(/ as /), source: '2' }]);
    });
  });

  it('round trip into the same id after its rows are deleted: byte-identical rows and answers', async () => {
    const before = await snapshot(t.db.superuserUrl, 2);
    const answersBefore = await answers(2);
    const file = await exported(2);
    await withClient(t.db.superuserUrl, async (c) => {
      // Children first; the counter stays, as it does when a tenant deletes its rows itself.
      for (const table of (await tenantTables(c)).reverse()) {
        if (table.name !== 'app.tenant_row_ids')
          await c.query(`DELETE FROM ${table.name} WHERE tenant_id = 2`);
      }
    });
    expect(Object.keys(await snapshot(t.db.superuserUrl, 2))).toEqual(['app.tenant_row_ids']);
    await imported(2, file);
    expect(await snapshot(t.db.superuserUrl, 2)).toEqual(before);
    expect(await answers(2)).toEqual(answersBefore);
  });

  it('refuses a tenant with rows, another schema, an unknown tenant, a cut file: one line, exit 1, nothing written', async () => {
    const file = await exported(2);
    const [header, ...rows] = (await readFile(file, 'utf8')).trimEnd().split('\n');
    const otherSchema = join(dir, 'other-schema.jsonl');
    await writeFile(
      otherSchema,
      [JSON.stringify({ ...JSON.parse(header!), schema: `sha256:${'0'.repeat(64)}` }), ...rows].join('\n'),
    );
    const cut = join(dir, 'cut.jsonl');
    await writeFile(cut, [header, ...rows.slice(0, -1)].join('\n'));
    const cases: [string[], RegExp][] = [
      [['3', file], /^tenant 3 has rows \(app\.[a-z_., ]+\); import needs a tenant without rows$/],
      [
        ['7', otherSchema],
        /^.+other-schema\.jsonl is of another schema version \(sha256:0{12}…, this database sha256:[0-9a-f]{12}…\); migrate both to the same migrations first$/,
      ],
      [['77', file], /^no tenant 77 in the tenants table$/],
      [['81', file], /^tenant 81 is not a regular tenant$/],
      [
        ['7', cut],
        /^.+cut\.jsonl has \d+ rows of app\.tenant_row_ids where its header says 1; not a complete export$/,
      ],
      [['7', join(dir, 'missing.jsonl')], /^cannot read .+missing\.jsonl \(ENOENT\)$/],
    ];
    for (const [args, reason] of cases) {
      const run = await tenantql(['tenants', 'import', ...args]);
      expect(run).toMatchObject({ code: 1, stdout: '' });
      const lines = run.stderr.split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[0]!.replace(/^tenantql tenants import: /, '')).toMatch(reason);
    }
    // The cut file's rows were all inserted before the count check: the rollback took them back.
    expect(await snapshot(t.db.superuserUrl, 7)).toEqual({});
    expect((await tenantql(['tenants', 'import', '7'])).code).toBe(2);
  });

  it('exports one snapshot: rows written between its batches are not in it', async () => {
    await withClient(t.db.superuserUrl, async (c) => {
      await c.query(
        "INSERT INTO app.projects (tenant_id, name) SELECT 9, 'before ' || g FROM generate_series(1, 3) g",
      );
    });
    let during = false;
    let text = '';
    const out = new Writable({
      highWaterMark: 1,
      write(chunk, _encoding, done) {
        text += String(chunk);
        if (during || !text.includes('"table"')) return done();
        during = true;
        // From another connection, committed while the export's cursor is open.
        withClient(t.db.superuserUrl, async (c) => {
          await c.query("INSERT INTO app.projects (tenant_id, name) VALUES (9, 'during')");
          await c.query("UPDATE app.projects SET name = 'renamed' WHERE tenant_id = 9 AND name = 'before 3'");
          await c.query(
            "INSERT INTO app.tasks (tenant_id, project_id, title) SELECT 9, min(id), 'task during' FROM app.projects WHERE tenant_id = 9",
          );
        }).then(() => done(), done);
      },
    });
    const header = await exportTenant({ ownerUrl: t.db.ownerUrl, tenantId: 9, out, batchSize: 1 });
    expect(during).toBe(true);
    expect(header.counts).toMatchObject({ 'app.projects': 3, 'app.tasks': 0 });
    expect(text).not.toMatch(/during|renamed/);
    expect(text).toContain('before 3');
    expect(text.trimEnd().split('\n')).toHaveLength(1 + 3 + 1); // header, projects, counter
  });

  it('a dedicated tenant exports from its own database, and imports into one', async () => {
    const mainHas = (id: number) => snapshot(t.db.superuserUrl, id);
    expect(await mainHas(5)).toEqual({});
    const file = await exported(5);
    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n').slice(1);
    const own = await snapshot(superuserUrlOf(t, 5), 5);
    expect(lines.length).toBe(Object.values(own).flat().length);
    expect(lines.filter((l) => l.includes('"table":"app.tasks"'))).toHaveLength(9);

    await imported(8, file);
    expect(await mainHas(8)).toEqual({});
    expect(await portable(superuserUrlOf(t, 8), 8)).toEqual(await portable(superuserUrlOf(t, 5), 5));
    expect(withoutTenant(await answers(8), 8)).toEqual(withoutTenant(await answers(5), 5));
  });

  it('exports ~20,000 rows at a measured rate, and imports them back', async () => {
    await withClient(t.db.superuserUrl, async (c) => {
      await c.query(
        "INSERT INTO app.projects (tenant_id, id, name) SELECT 4, g, 'project ' || g FROM generate_series(1, 1000) g",
      );
      await c.query(
        `INSERT INTO app.tasks (tenant_id, id, project_id, title, status)
         SELECT 4, 1000 + g, 1 + g % 1000, 'task ' || g, (ARRAY['TODO', 'IN_PROGRESS', 'DONE'])[1 + g % 3]
           FROM generate_series(1, 19000) g`,
      );
    });
    const file = join(dir, 'bulk.jsonl');
    const out = createWriteStream(file);
    const started = performance.now();
    const header = await exportTenant({ ownerUrl: t.db.ownerUrl, tenantId: 4, out });
    out.end();
    await finished(out);
    const exportSeconds = (performance.now() - started) / 1000;
    const rows = Object.values(header.counts).reduce((a, b) => a + b, 0);
    expect(rows).toBe(20_001); // and the counter

    const importStarted = performance.now();
    const report = await importTenant({
      ownerUrl: t.db.ownerUrl,
      tenantId: 10,
      file,
      encryption: { columns: demo.encryptedColumns!, dataKeys: t.dataKeys },
    });
    const importSeconds = (performance.now() - importStarted) / 1000;
    expect(report.counts).toEqual(Object.fromEntries(Object.entries(header.counts).filter(([, n]) => n)));
    console.info(
      `tenants export: ${rows} rows in ${exportSeconds.toFixed(2)} s = ${Math.round(rows / exportSeconds)} rows/s; ` +
        `import: ${Math.round(rows / importSeconds)} rows/s`,
    );
    expect(await portable(t.db.superuserUrl, 10)).toEqual(await portable(t.db.superuserUrl, 4));
  });

  it("leaves another tenant's rows and answers exactly as they were", async () => {
    expect(await snapshot(superuserUrlOf(t, 3), 3)).toEqual(neighbourBefore);
    expect(await answers(3)).toEqual(neighbourAnswers);
  });
});

describe("a product's own table", () => {
  let name: string;
  let urls: { ownerUrl: string; superuserUrl: string };
  let migrations: string;

  beforeAll(async () => {
    // A database of its own (not a clone of the run's template): the product migration below
    // calls make_tenant_scoped, which grants to roles named after the database.
    name = `${inject('templateDatabase')}_ei${randomBytes(3).toString('hex')}`;
    migrations = await mkdtemp(join(tmpdir(), 'tenantql-product-'));
    await cp(demoMigrationsDir, migrations, { recursive: true });
    await writeFile(
      join(migrations, '002_notes.sql'),
      `CREATE TABLE app.notes (
         tenant_id integer NOT NULL REFERENCES app.tenants (id),
         id bigint GENERATED ALWAYS AS IDENTITY,
         project_id bigint NOT NULL,
         body text NOT NULL,
         body_length integer GENERATED ALWAYS AS (length(body)) STORED,
         big bigint NOT NULL,
         amount numeric NOT NULL,
         blob bytea NOT NULL,
         at timestamptz NOT NULL,
         tags text[] NOT NULL DEFAULT '{}',
         meta jsonb,
         PRIMARY KEY (tenant_id, id),
         FOREIGN KEY (tenant_id, project_id) REFERENCES app.projects (tenant_id, id)
       );
       SELECT app.make_tenant_scoped('app.notes');`,
    );
    const setup = await setupDatabase({
      superuserUrl: inject('superuserUrl'),
      database: name,
      productMigrations: migrations,
    });
    urls = { ownerUrl: setup.ownerUrl, superuserUrl: connectionUrl(inject('superuserUrl'), name) };
    await syncTenants(
      urls.ownerUrl,
      exampleTenants.filter((tenant) => tenant.id <= 3),
    );
    await withClient(urls.superuserUrl, async (c) => {
      await c.query("INSERT INTO app.projects (tenant_id, name) VALUES (2, 'with notes')");
      await c.query(
        `INSERT INTO app.notes (tenant_id, id, project_id, body, big, amount, blob, at, tags, meta) OVERRIDING SYSTEM VALUE
         SELECT 2, 100 + g, 1, 'note ' || g, 9007199254740993 + g, 12345678901234567890.123456789,
                '\\x00ff10'::bytea, '2026-01-02 03:04:05.123456+00', ARRAY['a', 'b"c'], '{"n": 1.50}'
           FROM generate_series(1, 3) g`,
      );
    });
  });
  afterAll(async () => {
    await withClient(inject('superuserUrl'), async (c) => {
      for (const database of [name, `${name}_keys`])
        await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(database)} WITH (FORCE)`);
      const roles = await c.query<{ rolname: string }>(
        'SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)',
        [`${name}_`],
      );
      for (const { rolname } of roles.rows) await c.query(`DROP ROLE ${pg.escapeIdentifier(rolname)}`);
    });
    await rm(migrations, { recursive: true, force: true });
  });

  it('is exported and imported without code changes, values exact, its identity advanced', async () => {
    const file = join(dir, 'notes.jsonl');
    const productEnv = { DATABASE_OWNER_URL: urls.ownerUrl, TENANT_MASTER_KEY: TEST_MASTER_KEY };
    const out = await tenantqlInProcess(['tenants', 'export', '2', '--out', file], productEnv);
    expect(out.code).toBe(0);
    const text = await readFile(file, 'utf8');
    expect(JSON.parse(text.split('\n')[0]!).counts).toMatchObject({ 'app.notes': 3 });
    expect(text).toContain('"big": 9007199254740994'); // past 2^53, digit for digit

    const run = await tenantqlInProcess(['tenants', 'import', '3', file], productEnv);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const [two, three] = [
      await snapshot(urls.superuserUrl, 2, ['tenant_id']),
      await snapshot(urls.superuserUrl, 3, ['tenant_id']),
    ];
    expect(three['app.notes']).toHaveLength(3);
    expect(three).toEqual(two);
    // GENERATED ALWAYS ids were kept, and the sequence moved past them.
    await withClient(urls.superuserUrl, async (c) => {
      const { rows } = await c.query(
        "INSERT INTO app.notes (tenant_id, project_id, body, big, amount, blob, at) VALUES (3, 1, 'new', 1, 1, '', now()) RETURNING id::int",
      );
      expect(rows).toEqual([{ id: 104 }]);
    });
  });
});
