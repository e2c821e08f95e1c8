import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoadProduct } from '../../src/cli/command.js';
import { connectionUrl } from '../../src/db/setup.js';
import { WRITE_PAUSE_LOCK_CLASS } from '../../src/db/write-pause.js';
import { demoMigrationsDir } from '../../src/example/migrations.js';
import type { Product } from '../../src/product.js';
import { dedicatedNames } from '../../src/tiers/names.js';
import { defaultTenants, TestApp } from '../helpers/app.js';
import { withClient } from '../helpers/db.js';
import { tenantqlInProcess } from '../helpers/run-command.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { provisionDedicated, tenantRowsIn } from '../helpers/tiers.js';
import { dumpKeys, sharedValkeyUrl } from '../helpers/valkey.js';

// SPEC §11 `tenants move`, on a real PostgreSQL and Valkey, with the real app answering: under
// load in both directions (every 200 write kept, every refusal 503 TENANT_READ_ONLY, every read
// answered), killed with SIGKILL at each step and run again, and the neighbour untouched.
const extra = [
  { id: 7, subdomain: 'mover', name: 'Mover' },
  { id: 8, subdomain: 'victim', name: 'Victim' },
  { id: 9, subdomain: 'homebound', name: 'Homebound', isolation: 'database' },
  { id: 10, subdomain: 'tenk', name: 'Ten thousand rows' },
];
const file = (isolation: Record<number, string> = {}) => ({
  ...defaultTenants,
  // The load below is far over the default limit; 429s are not what this file tests.
  defaults: { ...defaultTenants.defaults, rateLimit: { requests: 1e6, perSeconds: 60 } },
  tenants: [...defaultTenants.tenants, ...extra].map((tenant) =>
    isolation[tenant.id] ? { ...tenant, isolation: isolation[tenant.id] } : tenant,
  ),
});
const hostOf = (id: number) =>
  `${[...defaultTenants.tenants, ...extra].find((x) => x.id === id)!.subdomain}.localhost`;
const BIN = fileURLToPath(new URL('../../bin/tenantql.js', import.meta.url));
const MOVE_APP = 'tenantql tenants move';
/** The demo's migrations, as bin/tenantql has them: a new tenant database gets them too. */
const demo: LoadProduct = async () => ({ migrations: demoMigrationsDir }) as Product;
const move = (args: string[]) => tenantqlInProcess(['tenants', 'move', ...args], env, demo);

let t: TestApp;
let env: Record<string, string>;

beforeAll(async () => {
  const tenants = file();
  t = await TestApp.start({
    tenants,
    valkeyUrl: sharedValkeyUrl(4),
    prepare: async (db, secretsFile) => void (await provisionDedicated(db, secretsFile, tenants)),
  });
  env = {
    DATABASE_SUPERUSER_URL: t.db.superuserUrl,
    DATABASE_URL: t.db.appUrl,
    TENANTS_FILE: t.tenantsFile,
    TENANT_SECRETS_FILE: t.secretsFile,
    VALKEY_URL: sharedValkeyUrl(4),
  };
  for (const id of [2, 7, 8, 9]) await seed(id);
  await seed(10, 10_000 - 35); // with the GraphQL rows and their audit entries: 10,000 rows
});
afterAll(() => t?.close());

async function ask(tenantId: number, query: string, variables: object = {}) {
  const res = await t.gql(hostOf(tenantId), query, { token: await t.token(tenantId), variables });
  expect(res.body.errors).toBeUndefined();
  return res.body.data!;
}

/** Members, projects and tasks through GraphQL, then a few thousand tasks more in SQL (a copy that takes a while). */
async function seed(tenantId: number, bulk = 3000): Promise<void> {
  const member = await ask(
    tenantId,
    'mutation { createMember(input: { name: "Ada", email: "ada@x.example" }) { id } }',
  );
  for (let p = 0; p < 3; p++) {
    const project = await ask(
      tenantId,
      'mutation($n: String!) { createProject(input: { name: $n }) { id } }',
      {
        n: `Project ${p}`,
      },
    );
    for (let k = 0; k < 3; k++) {
      await ask(
        tenantId,
        'mutation($p: ID!, $t: String!, $a: ID) { createTask(input: { projectId: $p, title: $t, assigneeId: $a }) { id } }',
        { p: project.createProject.id, t: `Task ${k}`, a: k === 0 ? member.createMember.id : null },
      );
    }
  }
  await inPlace(tenantId, async (c) => {
    await c.query('BEGIN');
    await c.query("SELECT set_config('app.tenant_id', $1, true)", [String(tenantId)]);
    const { rows } = await c.query('SELECT id FROM app.projects WHERE tenant_id = $1 ORDER BY id LIMIT 1', [
      tenantId,
    ]);
    await c.query(
      `INSERT INTO app.tasks (tenant_id, project_id, title)
       SELECT $1, $2, 'bulk ' || n FROM generate_series(1, $3::int) AS n`,
      [tenantId, rows[0].id, bulk],
    );
    await c.query('COMMIT');
  });
}

/** The superuser in the database the tenant's rows are in now (from the tenants table). */
async function inPlace<T>(tenantId: number, work: (c: pg.Client) => Promise<T>): Promise<T> {
  return withClient(connectionUrl(t.db.superuserUrl, await databaseOf(tenantId)), work);
}
async function placementOf(tenantId: number): Promise<string> {
  return withClient(t.db.superuserUrl, async (c) => {
    const { rows } = await c.query('SELECT isolation FROM app.tenants WHERE id = $1', [tenantId]);
    return rows[0].isolation;
  });
}
async function databaseOf(tenantId: number): Promise<string> {
  return (await placementOf(tenantId)) === 'database'
    ? dedicatedNames(t.db.name, tenantId).database
    : t.db.name;
}

const LISTS = [
  '{ members(first: 10) { totalCount edges { node { id name email } } } }',
  '{ projects(first: 50) { totalCount edges { node { id name tasks(first: 5) { totalCount edges { node { id title assignee { id } } } } } } } }',
];
async function answers(tenantId: number): Promise<unknown[]> {
  const out = [];
  for (const query of LISTS) out.push(await ask(tenantId, query));
  return out;
}

const rowsIn = (database: string, tenantId: number) => tenantRowsIn(t.db.superuserUrl, database, tenantId);

/** Every row of the tenant as text, where its rows are: the neighbour must be byte-identical. */
async function rowsAsText(tenantId: number): Promise<string[]> {
  return inPlace(tenantId, async (c) => {
    const out: string[] = [];
    for (const table of ['app.members', 'app.projects', 'app.tasks', 'app.audit_log', 'app.tenant_row_ids']) {
      const { rows } = await c.query(`SELECT x::text AS t FROM ${table} x WHERE tenant_id = $1 ORDER BY 1`, [
        tenantId,
      ]);
      out.push(...rows.map((r) => `${table} ${r.t}`));
    }
    return out;
  });
}

/** The tenant's Valkey keys and values; a rate-limit window may end meanwhile, so those only by name. */
async function keysOf(tenantId: number): Promise<unknown[]> {
  const redis = new Redis(sharedValkeyUrl(4));
  try {
    return (await dumpKeys(redis))
      .filter(({ key }) => key.startsWith(`{t${tenantId}}:`) && !key.includes(':ratelimit:'))
      .sort((a, b) => a.key.localeCompare(b.key));
  } finally {
    redis.disconnect();
  }
}

const CREATE = 'mutation($n: String!) { createProject(input: { name: $n }) { id } }';
const READ = '{ projects(first: 3) { totalCount } tasks: members(first: 1) { totalCount } }';

/** A writer and a reader against the tenant until `done` settles; what each answer was. */
async function underLoad(tenantId: number, done: Promise<unknown>) {
  const token = await t.token(tenantId);
  let finished = false;
  void done.finally(() => {
    finished = true;
  });
  const written: string[] = [];
  const refused: { status: number; code?: string; retryAfter: string | null }[] = [];
  const failedReads: unknown[] = [];
  let reads = 0;
  const writer = (async () => {
    for (let n = 0; !finished; n++) {
      const name = `load ${tenantId} ${Date.now()} ${n}`;
      const res = await t.gql(hostOf(tenantId), CREATE, { token, variables: { n: name } });
      if (res.status === 200 && !res.body.errors) written.push(name);
      else {
        refused.push({
          status: res.status,
          code: res.body.errors?.[0]?.extensions?.code,
          retryAfter: res.headers.get('retry-after'),
        });
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  })();
  const reader = (async () => {
    while (!finished) {
      const res = await t.gql(hostOf(tenantId), READ, { token });
      reads++;
      if (res.status !== 200 || res.body.errors) failedReads.push(res.body);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  await Promise.all([writer, reader, done]);
  return { written, refused, failedReads, reads };
}

async function projectNames(tenantId: number): Promise<Set<string>> {
  return inPlace(tenantId, async (c) => {
    const { rows } = await c.query('SELECT name FROM app.projects WHERE tenant_id = $1', [tenantId]);
    return new Set(rows.map((r) => r.name as string));
  });
}

describe('tenants move under load', () => {
  it('moves a tenant to a database of its own and back: no write lost, refusals 503 TENANT_READ_ONLY, reads answered', async () => {
    const neighbourAnswers = await answers(2); // also fills its response cache
    const neighbour = { rows: await rowsAsText(2), keys: await keysOf(2) };
    expect(neighbour.keys.length).toBeGreaterThan(0);
    for (const [to, from] of [
      ['database', 'shared'],
      ['shared', 'database'],
    ] as const) {
      const before = await answers(7);
      const oldDatabase = await databaseOf(7);
      const moving = move(['7', '--to', to]);
      const load = await underLoad(7, moving);
      const result = await moving;
      expect(result.stderr).toContain('copy');
      expect(result.code, result.stderr).toBe(0);
      const report = JSON.parse(result.stdout);
      expect(report).toMatchObject({ tenant: 7, from, to, databaseDropped: to === 'shared' });
      expect(report.rows['app.tasks']).toBeGreaterThan(3000);
      expect(report.instancesNotified).toBeGreaterThanOrEqual(1);

      expect(load.failedReads).toEqual([]);
      expect(load.reads).toBeGreaterThan(5);
      expect(load.written.length).toBeGreaterThan(0);
      for (const refusal of load.refused) {
        expect(refusal).toEqual({
          status: 503,
          code: 'TENANT_READ_ONLY',
          retryAfter: expect.stringMatching(/^[1-9]$/),
        });
      }
      expect(await placementOf(7)).toBe(to);
      // Every write that answered 200 is there, in the new place; none is left in the old one.
      const names = await projectNames(7);
      for (const name of load.written) expect(names.has(name), name).toBe(true);
      expect(await rowsIn(oldDatabase, 7)).toEqual({});
      expect(t.tiers.isolationOf(7)).toBe(to);
      // The answers are the same, but for the projects the writer added.
      const after = (await answers(7)) as any[];
      expect(after[0]).toEqual((before as any[])[0]);
      expect(after[1].projects.totalCount).toBe(
        (before as any[])[1].projects.totalCount + load.written.length,
      );

      // The file catches up; the reload takes it (it refused nothing but a disagreeing file).
      await t.writeTenants(file(to === 'database' ? { 7: 'database' } : {}));
      expect((await t.registry.reload()).ok).toBe(true);
    }
    expect(await rowsAsText(2)).toEqual(neighbour.rows);
    expect(await keysOf(2)).toEqual(neighbour.keys);
    expect(await answers(2)).toEqual(neighbourAnswers);
  }, 120_000);

  it('a tenant of 10,000 rows: the write pause, as the report and as a writer sees it', async () => {
    const lines = [];
    for (const to of ['database', 'shared'] as const) {
      const moving = move(['10', '--to', to]);
      const load = await underLoad(10, moving);
      const result = await moving;
      expect(result.code, result.stderr).toBe(0);
      const report = JSON.parse(result.stdout);
      const rows = Object.values(report.rows as Record<string, number>).reduce((a, b) => a + b, 0);
      expect(rows).toBeGreaterThanOrEqual(10_000);
      expect(load.failedReads).toEqual([]);
      for (const refusal of load.refused) expect(refusal.code).toBe('TENANT_READ_ONLY');
      lines.push(
        `to ${to}: ${rows} rows, write pause ${report.writePauseMs} ms (report), ${load.refused.length} writes refused, ${load.written.length} written, ${load.reads} reads`,
      );
    }
    // For the closing note and docs/lifecycle.md; no timing is asserted (a shared machine).
    console.log(`tenants move, 10,000 rows:\n  ${lines.join('\n  ')}`);
  }, 60_000);

  it('an instance that did not hear of the switch refuses its first write at the old place, then follows', async () => {
    expect(await placementOf(7)).toBe('shared');
    // A Valkey nobody listens on: this app hears nothing, as an instance without Valkey.
    const unheard = await tenantqlInProcess(
      ['tenants', 'move', '7', '--to', 'database'],
      { ...env, VALKEY_URL: 'redis://127.0.0.1:9' },
      demo,
    );
    expect(unheard.code, unheard.stderr).toBe(0);
    expect(JSON.parse(unheard.stdout).instancesNotified).toBe(null);
    expect(t.tiers.isolationOf(7)).toBe('shared');
    const first = await t.gql(hostOf(7), CREATE, {
      token: await t.token(7),
      variables: { n: 'stale write' },
    });
    expect(first.status).toBe(503);
    expect(first.body.errors?.[0]?.extensions?.code).toBe('TENANT_READ_ONLY');
    await waitUntil(() => t.tiers.isolationOf(7) === 'database');
    await ask(7, CREATE, { n: 'followed' });
    const names = await projectNames(7);
    expect(names.has('followed')).toBe(true);
    expect(names.has('stale write')).toBe(false);
    expect(await rowsIn(t.db.name, 7)).toEqual({});

    // A reload reads the placements too, even one refused for a file that still says "shared".
    const back = await tenantqlInProcess(
      ['tenants', 'move', '7', '--to', 'shared'],
      { ...env, VALKEY_URL: 'redis://127.0.0.1:9' },
      demo,
    );
    expect(back.code, back.stderr).toBe(0);
    await t.writeTenants(file({ 7: 'database' }));
    const reload = await t.registry.reload();
    expect(reload.ok).toBe(false);
    expect(reload.problems.join('\n')).toMatch(/tenant 7 \(mover\).*tenants move 7 --to database/);
    expect(t.tiers.isolationOf(7)).toBe('shared');
    await ask(7, CREATE, { n: 'after reload' });
    await t.writeTenants(file());
    expect((await t.registry.reload()).ok).toBe(true);
  });

  it('an instance without Valkey follows a move within about a second, before the old rows go', async () => {
    const alone = await TestApp.start(); // in-process: no Valkey to hear
    try {
      const token = await alone.token(2);
      const read = async () => {
        const res = await alone.gql(hostOf(2), '{ projects(first: 1) { totalCount } }', { token });
        expect(res.body.errors).toBeUndefined();
        return res.body.data!.projects.totalCount as number;
      };
      await alone.gql(hostOf(2), CREATE, { token, variables: { n: 'before the move' } });
      const aloneEnv = {
        ...env,
        DATABASE_SUPERUSER_URL: alone.db.superuserUrl,
        DATABASE_URL: alone.db.appUrl,
        TENANTS_FILE: alone.tenantsFile,
        TENANT_SECRETS_FILE: alone.secretsFile,
        VALKEY_URL: 'redis://127.0.0.1:9',
      };
      const moved = tenantqlInProcess(['tenants', 'move', '2', '--to', 'database'], aloneEnv, demo);
      // Reads all along: served from the old place, then the new, never an empty answer.
      const counts: number[] = [];
      let done = false;
      void moved.finally(() => {
        done = true;
      });
      while (!done) counts.push(await read());
      expect((await moved).code).toBe(0);
      expect(alone.tiers.isolationOf(2)).toBe('database');
      expect(new Set(counts)).toEqual(new Set([1]));
      expect(await read()).toBe(1);
    } finally {
      await alone.close();
    }
  });

  it('refuses what it cannot take, and a move to where the tenant is does nothing', async () => {
    const refused = await move(['81', '--to', 'database']);
    expect(refused).toMatchObject({ code: 1 });
    expect(refused.stderr).toMatch(/no regular tenant 81/);
    const usage = await move(['7', '--to', 'elsewhere']);
    expect(usage.code).toBe(2);
    const again = await move(['2', '--to', 'shared']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({
      from: 'shared',
      to: 'shared',
      alreadyThere: true,
      oldRowsDeleted: 0,
      rows: {},
    });
  });
});

/** `tenantql tenants move` as a child process, to kill. */
function moveProcess(
  tenantId: number,
  to: string,
): { child: ChildProcess; exited: Promise<number | null>; stderr: () => string } {
  const child = spawn(process.execPath, [BIN, 'tenants', 'move', String(tenantId), '--to', to], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { child, exited, stderr: () => stderr };
}

/** Until a session of the move waits for a lock (the blocker's), or none is left. */
async function waitForMoveSessions(state: 'waiting' | 'gone'): Promise<void> {
  const deadline = Date.now() + 20_000;
  await withClient(t.db.superuserUrl, async (c) => {
    for (;;) {
      const { rows } = await c.query(
        `SELECT count(*) FILTER (WHERE wait_event_type = 'Lock')::int AS waiting, count(*)::int AS sessions
           FROM pg_stat_activity WHERE application_name = $1`,
        [MOVE_APP],
      );
      if (state === 'waiting' ? rows[0].waiting > 0 : rows[0].sessions === 0) return;
      if (Date.now() > deadline) throw new Error(`move sessions never ${state}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
}

/** A session that holds `lock` (SQL run in an open transaction) in `database` until released. */
async function hold(database: string, lock: string, values: unknown[] = []) {
  const client = new pg.Client({ connectionString: connectionUrl(t.db.superuserUrl, database) });
  await client.connect();
  await client.query('BEGIN');
  await client.query(lock, values);
  return async () => {
    await client.query('ROLLBACK').catch(() => {});
    await client.end();
  };
}

type Step = 'pause' | 'copy' | 'switch' | 'delete';
/** What makes the move wait at `step`, in the old place `from` or the new place `to`. */
function blockerAt(step: Step, tenantId: number, from: string, to: string): [string, string, unknown[]] {
  const main = t.db.name;
  const own = dedicatedNames(t.db.name, tenantId).database;
  const old = from === 'database' ? own : main;
  switch (step) {
    case 'pause': // a write of the tenant's that does not end
      return [old, 'SELECT pg_advisory_xact_lock_shared($1, $2)', [WRITE_PAUSE_LOCK_CLASS, tenantId]];
    case 'copy': // the export's (or import's) read of the main database's migrations
      return [main, 'LOCK TABLE app_meta.migrations IN ACCESS EXCLUSIVE MODE', []];
    case 'switch': // the first placement the switch writes (a key-share lock lets the tenant's writes on)
      return [
        to === 'database' ? main : own,
        'SELECT 1 FROM app.tenants WHERE id = $1 FOR NO KEY UPDATE',
        [tenantId],
      ];
    case 'delete':
      return [old, 'SELECT 1 FROM app.projects WHERE tenant_id = $1 LIMIT 1 FOR UPDATE', [tenantId]];
  }
}

describe('tenants move killed at each step, then run again', () => {
  for (const [to, from] of [
    ['database', 'shared'],
    ['shared', 'database'],
  ] as const) {
    const tenantId = to === 'database' ? 8 : 9;
    it(`to ${to}: the tenant is served, complete, from its old place until the switch; the re-run finishes`, async () => {
      for (const step of ['pause', 'copy', 'switch', 'delete'] as const) {
        const served = await answers(tenantId);
        const [database, lock, values] = blockerAt(step, tenantId, from, to);
        const release = await hold(database, lock, values);
        const child = moveProcess(tenantId, to);
        try {
          await waitForMoveSessions('waiting');
          if (step === 'pause' || step === 'copy') {
            // The pause is in force: a write is refused, a read answered.
            const write = await t.gql(hostOf(tenantId), CREATE, {
              token: await t.token(tenantId),
              variables: { n: `during ${step}` },
            });
            expect(write.status).toBe(503);
            expect(write.body.errors?.[0]?.extensions?.code).toBe('TENANT_READ_ONLY');
            expect(await answers(tenantId)).toEqual(served);
          }
          child.child.kill('SIGKILL');
          expect(await child.exited).toBe(null);
          // PostgreSQL ends the killed move's sessions itself (client_connection_check_interval).
          await waitForMoveSessions('gone');
        } finally {
          child.child.kill('SIGKILL');
          await release();
        }
        const switched = step === 'delete';
        expect(await placementOf(tenantId)).toBe(switched ? to : from);
        // Killed before the switch: served, complete, from the old place, writes on at once.
        expect(await answers(tenantId), step).toEqual(served);
        if (switched) await waitUntil(() => t.tiers.isolationOf(tenantId) === to);
        expect(t.tiers.isolationOf(tenantId)).toBe(switched ? to : from);
        await ask(tenantId, CREATE, { n: `after kill at ${step}` });
        expect((await projectNames(tenantId)).has(`after kill at ${step}`)).toBe(true);
        if (step === 'delete') {
          // The old rows are still there (their deletion was rolled back); the re-run deletes them.
          expect(
            Object.keys(
              await rowsIn(
                from === 'database' ? dedicatedNames(t.db.name, tenantId).database : t.db.name,
                tenantId,
              ),
            ).length,
          ).toBeGreaterThan(0);
        }
      }
      const rerun = await move([String(tenantId), '--to', to]);
      expect(rerun.code, rerun.stderr).toBe(0);
      expect(JSON.parse(rerun.stdout).oldRowsDeleted).toBeGreaterThan(3000);
      const oldDatabase = from === 'database' ? dedicatedNames(t.db.name, tenantId).database : t.db.name;
      expect(await rowsIn(oldDatabase, tenantId)).toEqual({});
      const names = await projectNames(tenantId);
      for (const step of ['pause', 'copy', 'switch', 'delete'])
        expect(names.has(`after kill at ${step}`)).toBe(true);
    });
  }
});

describe('tenants move when PostgreSQL goes away', () => {
  it('the connections cut during the copy (as a restart does): the command fails in one line, the tenant is served from its old place, the re-run finishes', async () => {
    expect(await placementOf(9)).toBe('shared');
    const served = await answers(9);
    const target = new URL(t.db.superuserUrl);
    const proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port) });
    const [database, lock, values] = blockerAt('copy', 9, 'shared', 'database');
    const release = await hold(database, lock, values);
    try {
      const cut = tenantqlInProcess(
        ['tenants', 'move', '9', '--to', 'database'],
        { ...env, DATABASE_SUPERUSER_URL: proxy.url(t.db.superuserUrl) },
        demo,
      );
      await waitForMoveSessions('waiting');
      proxy.mode = 'refuse'; // every session of the move ends, as at a PostgreSQL restart
      const result = await cut;
      expect(result.code).toBe(1);
      expect(result.stderr.trim().split('\n').at(-1)).toMatch(/^tenantql tenants move: /);
      expect(result.stderr).not.toMatch(/\n\s+at /);
      await waitForMoveSessions('gone');
    } finally {
      await release();
      await proxy.close();
    }
    expect(await placementOf(9)).toBe('shared');
    expect(await answers(9)).toEqual(served);
    await ask(9, CREATE, { n: 'after the cut' });
    const rerun = await move(['9', '--to', 'database']);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(await placementOf(9)).toBe('database');
    expect((await projectNames(9)).has('after the cut')).toBe(true);
    expect(await rowsIn(t.db.name, 9)).toEqual({});
  });
});

async function waitUntil(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
