import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';
import { TestApp } from '../helpers/app.js';
import { withClient } from '../helpers/db.js';
import { classify, createProject, marker, READ, seedMarkers, summary } from '../helpers/fault-load.js';
import { pgBouncerAdmin } from '../helpers/pgbouncer.js';

// Issue 11 item 16, catalogue G8: behind PgBouncer in transaction mode (the `pgbouncer` project
// of vitest.config.ts; test/helpers/db.ts routes the runtime and admin roles through it),
// 600 requests, 30 in flight, reads and writes of two tenants whose transactions interleave.
const TENANTS = [
  { id: 2, host: 'tenant1.localhost' },
  { id: 3, host: 'tenant2.localhost' },
] as const;
const REQUESTS = 600;
const IN_FLIGHT = 30;

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

/** Runs `count` jobs, at most `width` at a time, and returns their results in order. */
async function inFlight<T>(count: number, width: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      results[i] = await job(i);
    }
  };
  await Promise.all(Array.from({ length: width }, worker));
  return results;
}

/** Every third request a write (createProject, with its audit row), the rest nested reads. */
async function burst(app: TestApp) {
  await seedMarkers(
    app,
    TENANTS.map((x) => x.id),
  );
  const tokens = await Promise.all(TENANTS.map((x) => app.token(x.id)));
  return inFlight(REQUESTS, IN_FLIGHT, async (i) => {
    const tenant = TENANTS[i % TENANTS.length]!;
    const token = tokens[i % TENANTS.length]!;
    if (i % 3 === 0) return createProject(app, tenant.host, tenant.id, token, `${marker(tenant.id)} #${i}`);
    const started = performance.now();
    const res = await app.gql(tenant.host, READ, { token });
    const outcome = classify(res, tenant.id, started);
    // Its own rows are there too, not just no foreign ones: the three seeded markers at least.
    const seen = (res.body.data as { projects?: { edges: unknown[] } } | null | undefined)?.projects?.edges;
    if (outcome.kind === 'ok' && (seen?.length ?? 0) < 3)
      return {
        ...outcome,
        kind: 'violation' as const,
        detail: `tenant ${tenant.id} saw ${seen?.length} rows`,
      };
    return outcome;
  });
}

/** Serving connections are PgBouncer's, and the pool's settings are the project's. */
function expectBehindPgBouncer(app: TestApp): void {
  expect(app.db.pgbouncer).toBeDefined();
  expect(new URL(app.db.appUrl).port).toBe(new URL(app.db.pgbouncer!.url).port);
}

describe('the pgbouncer project', () => {
  it('serves through PgBouncer: every session of the runtime and admin roles is one of its server connections', async () => {
    t = await TestApp.start();
    expectBehindPgBouncer(t);
    expect(t.config.preparedStatements).toBe(false);
    const tenant = await t.gql('tenant1.localhost', '{ projects { totalCount } }', {
      token: await t.token(2),
    });
    expect(tenant.body).toEqual({ data: { projects: { totalCount: 0 } } });
    const system = await t.gql('admin.localhost', '{ tenants { id } }', { token: await t.token(1) });
    expect(system.body.errors).toBeUndefined();

    const admin = t.db.pgbouncer!.adminUrl;
    const servers = (await pgBouncerAdmin<{ database: string; remote_pid: string }>(admin, 'SHOW SERVERS'))
      .filter((s) => s.database === t!.db.name)
      .map((s) => Number(s.remote_pid));
    const sessions = await withClient(t.db.superuserUrl, async (c) => {
      const { rows } = await c.query<{ pid: number; usename: string }>(
        'SELECT pid, usename FROM pg_stat_activity WHERE datname = current_database() AND usename = ANY($1)',
        [[new URL(t!.db.appUrl).username, new URL(t!.db.adminUrl).username]],
      );
      return rows;
    });
    // Both roles' sessions exist (the pools stay open), and PostgreSQL sees PgBouncer's
    // server connections as the only sessions of the serving roles: nothing went direct.
    expect(new Set(sessions.map((s) => s.usename)).size).toBe(2);
    for (const session of sessions) expect(servers).toContain(session.pid);
    // And PgBouncer counted the transactions: the tenant sync, two requests and their BEGINs.
    const stats = await pgBouncerAdmin<{ database: string; total_xact_count: string }>(admin, 'SHOW STATS');
    const own = stats.find((s) => s.database === t!.db.name);
    expect(Number(own?.total_xact_count)).toBeGreaterThanOrEqual(3);
  });
});

describe('600 requests, 30 in flight over two tenants, through PgBouncer in transaction mode', () => {
  it('with named prepared statements (PG_PREPARED_STATEMENTS=1) requests fail: the setting is needed', async () => {
    let logged = '';
    const logger = createLogger({
      level: 'error',
      pretty: false,
      destination: { write: (l) => (logged += l) },
    });
    t = await TestApp.start({ env: { PG_PREPARED_STATEMENTS: '1' }, logger });
    expectBehindPgBouncer(t);
    const outcomes = await burst(t);
    // Masked for the client (classify(): a known code, no driver text, no foreign row) ...
    expect(outcomes.filter((o) => o.kind === 'failed').length, summary(outcomes)).toBeGreaterThan(0);
    expect(
      outcomes.filter((o) => o.kind === 'violation'),
      summary(outcomes),
    ).toEqual([]);
    // ... and the operator's log says why: a server connection that another client prepared on.
    const reasons = new Set(
      logged
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line).err?.message as string | undefined),
    );
    expect([...reasons]).toContainEqual(
      expect.stringMatching(/^prepared statement "[\w.]+" (already exists|does not exist)$/),
    );
  });

  it('with PG_PREPARED_STATEMENTS=0 all 600 answer 200 with only their own tenant’s rows', async () => {
    t = await TestApp.start({ env: { PG_PREPARED_STATEMENTS: '0' } });
    expectBehindPgBouncer(t);
    const outcomes = await burst(t);
    expect(summary(outcomes)).toBe(`${JSON.stringify({ ok: REQUESTS, failed: 0, violation: 0 })} `);
    // Every write is in its own tenant, as the superuser (no RLS, direct) sees it.
    const { rows } = await withClient(t.db.superuserUrl, (c) =>
      c.query(
        `SELECT tenant_id, count(*)::int AS written,
                count(*) FILTER (WHERE name NOT LIKE '%~t' || tenant_id || '~%')::int AS foreign
         FROM app.projects WHERE name LIKE '%#%' GROUP BY tenant_id ORDER BY tenant_id`,
      ),
    );
    expect(rows).toEqual(TENANTS.map((x) => ({ tenant_id: x.id, written: REQUESTS / 3 / 2, foreign: 0 })));
  });
});
