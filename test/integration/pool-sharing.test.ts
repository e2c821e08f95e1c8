import { mkdir, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestApp } from '../helpers/app.js';
import { SLOW_TRIGGER, withClient } from '../helpers/db.js';
import { httpPost, type RawAnswer } from '../helpers/raw-http.js';

// SPEC §7 "Load", catalogue F5 and G4: the pool is shared fairly and without waste. Requests go
// over real sockets with real Host headers.

// In these tests' databases only: every statement that reads tenant 3's projects takes 400 ms
// (the policy's InitPlan runs once per statement); other tenants' reads are not slowed.
const SLOW_READS_OF_TENANT_3 = `
  CREATE FUNCTION app.test_slow_for_tenant_3() RETURNS boolean LANGUAGE plpgsql STABLE AS $$
  BEGIN
    IF app.current_tenant_id() = 3 THEN PERFORM pg_sleep(0.4); END IF;
    RETURN true;
  END $$;
  GRANT EXECUTE ON FUNCTION app.test_slow_for_tenant_3() TO PUBLIC;
  ALTER POLICY tenant_isolation ON app.projects
    USING (tenant_id = (SELECT app.current_tenant_id()) AND (SELECT app.test_slow_for_tenant_3()));`;

const READ =
  '{ projects(first: 5) { edges { node { name tasks(first: 5) { edges { node { title } } } } } } }';
const CREATE = 'mutation($n: String!) { createProject(input: { name: $n }) { id } }';

function post(port: number, host: string, token: string, query: string, variables?: object) {
  return httpPost(port, {
    host,
    headers: { authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
}

const codeOf = (answer: RawAnswer) => answer.body.errors?.[0]?.extensions?.code as string | undefined;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function projectNames(t: TestApp, tenantId: number): Promise<string[]> {
  return withClient(t.db.superuserUrl, async (c) => {
    const { rows } = await c.query('SELECT name FROM app.projects WHERE tenant_id = $1', [tenantId]);
    return rows.map((r) => r.name as string);
  });
}

describe('a busy tenant on an idle server', () => {
  let t: TestApp;
  let port: number;
  let token2: string;
  let token3: string;
  beforeAll(async () => {
    t = await TestApp.start({ env: { PG_POOL_MAX: '4' } });
    port = await t.listen();
    [token2, token3] = await Promise.all([t.token(2), t.token(3)]);
  });
  afterAll(() => t.close());

  it('answers 150 concurrent requests of one tenant all with 200 (they queue, none is refused)', async () => {
    const answers = await Promise.all(
      Array.from({ length: 150 }, () => post(port, 'tenant1.localhost', token2, READ)),
    );
    const statuses = answers.map((a) => `${a.status} ${codeOf(a) ?? ''}`.trim());
    expect(statuses.filter((s) => s !== '200')).toEqual([]);
    // The pool was used, and never beyond its size and reserve.
    expect(t.pool.totalCount).toBeGreaterThanOrEqual(2);
    expect(t.pool.totalCount).toBeLessThanOrEqual(4 + 2);
  });

  it('answers 300 requests at 30 in flight over two tenants all with 200', async () => {
    let next = 0;
    const statuses: string[] = [];
    const worker = async () => {
      while (next < 300) {
        const i = next++;
        const [host, token] = i % 2 ? ['tenant2.localhost', token3] : ['tenant1.localhost', token2];
        const answer =
          i % 10 === 9
            ? await post(port, host, token, CREATE, { n: `burst-${i}` })
            : await post(port, host, token, READ);
        statuses.push(`${answer.status} ${codeOf(answer) ?? ''}`.trim());
      }
    };
    await Promise.all(Array.from({ length: 30 }, worker));
    expect(statuses).toHaveLength(300);
    expect(statuses.filter((s) => s !== '200')).toEqual([]);
  });
});

describe('tenant B while tenant A floods slow requests', () => {
  let t: TestApp;
  let port: number;
  beforeAll(async () => {
    // 4 connections any tenant may fill, and the default reserve of 2 for tenants below their share.
    t = await TestApp.start({ env: { PG_POOL_MAX: '4' } });
    port = await t.listen();
    await withClient(t.db.ownerUrl, (c) => c.query(SLOW_READS_OF_TENANT_3));
    // A row to read: on an empty table the policy is never evaluated, so nothing would sleep.
    await withClient(t.db.superuserUrl, (c) =>
      c.query("INSERT INTO app.projects (tenant_id, name) VALUES (3, 'read slowly')"),
    );
  });
  afterAll(() => t.close());

  it("keeps B's p99 within a small multiple of its idle p99, and A is served, not refused", async () => {
    const [victimToken, floodToken] = await Promise.all([t.token(2), t.token(3)]);
    const victimRun = async (count: number) => {
      const latencies: number[] = [];
      for (let i = 0; i < count; i++) {
        const started = performance.now();
        const answer = await post(port, 'tenant1.localhost', victimToken, READ);
        latencies.push(performance.now() - started);
        expect(answer.status).toBe(200);
        expect(answer.body.errors).toBeUndefined();
      }
      return latencies;
    };
    await victimRun(10); // warm-up: connections, JIT, compiled queries
    const idle = await victimRun(60);

    // A: 16 clients in a loop, each reading its projects, which takes 400 ms. (Reads: a
    // tenant's writes queue on its id counter, so a write flood would mostly wait there.)
    let flooding = true;
    let busiest = 0;
    const floodStatuses: string[] = [];
    const flooder = async () => {
      while (flooding) {
        const answer = await post(port, 'tenant2.localhost', floodToken, READ);
        floodStatuses.push(`${answer.status} ${codeOf(answer) ?? ''}`.trim());
      }
    };
    const sampler = setInterval(() => {
      busiest = Math.max(busiest, t.pool.totalCount - t.pool.idleCount);
    }, 5);
    const flood = Promise.all(Array.from({ length: 16 }, flooder));
    await new Promise((resolve) => setTimeout(resolve, 600)); // the flood holds the pool
    const underFlood = await victimRun(60);
    flooding = false;
    await flood;
    clearInterval(sampler);

    const figures = {
      idle: { p50: percentile(idle, 50), p99: percentile(idle, 99) },
      underFlood: { p50: percentile(underFlood, 50), p99: percentile(underFlood, 99) },
      flood: {
        requests: floodStatuses.length,
        statuses: countBy(floodStatuses),
        busiestConnections: busiest,
      },
    };
    await report('pool-sharing-flood', figures);
    // A used the whole pool (4) and B its reserve; nobody was refused.
    expect(busiest).toBeGreaterThanOrEqual(4);
    expect(busiest).toBeLessThanOrEqual(6);
    expect(floodStatuses.filter((s) => s !== '200')).toEqual([]);
    // Without the reserve, B would wait up to 400 ms behind A's statements on every request
    // (measured: p50 20 ms, p99 382 ms against 2 and 20 idle).
    expect(figures.underFlood.p50).toBeLessThan(Math.max(3 * figures.idle.p50, figures.idle.p50 + 50));
    expect(figures.underFlood.p99).toBeLessThan(Math.max(5 * figures.idle.p99, figures.idle.p99 + 150));
  });
});

describe('past the wait deadline', () => {
  let t: TestApp;
  let port: number;
  beforeAll(async () => {
    t = await TestApp.start({
      env: { PG_POOL_MAX: '1', PG_POOL_RESERVE: '0', PG_POOL_WAIT_TIMEOUT_MS: '300' },
    });
    port = await t.listen();
    await withClient(t.db.ownerUrl, (c) => c.query(SLOW_TRIGGER));
  });
  afterAll(() => t.close());

  it('sheds a request with 503 OVERLOADED and Retry-After, and a shed mutation writes nothing', async () => {
    const token = await t.token(2);
    const holder = post(port, 'tenant1.localhost', token, CREATE, { n: 'slow:1500' });
    await new Promise((resolve) => setTimeout(resolve, 100)); // the only connection is taken
    const started = performance.now();
    const [read, write] = await Promise.all([
      post(port, 'tenant1.localhost', token, READ),
      post(port, 'tenant1.localhost', token, CREATE, { n: 'shed-write' }),
    ]);
    const waited = performance.now() - started;
    for (const answer of [read, write]) {
      expect(answer.status).toBe(503);
      expect(answer.headers?.['retry-after']).toBe('1');
      expect(answer.body.errors.map((e: { extensions: { code: string } }) => e.extensions.code)).toEqual([
        'OVERLOADED',
      ]);
      expect(JSON.stringify(answer.body)).not.toMatch(/timeout exceeded|pg-pool|\sat\s/);
    }
    expect(waited).toBeGreaterThanOrEqual(280);
    expect(waited).toBeLessThan(1_400);
    expect((await holder).status).toBe(200);
    expect(await projectNames(t, 2)).toEqual(['slow:1500']);
    // The server is fine afterwards.
    expect((await post(port, 'tenant1.localhost', token, READ)).status).toBe(200);
  });
});

function countBy(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

/** Figures for the closing note: printed, and kept under test/artifacts/ (not committed). */
async function report(name: string, figures: object): Promise<void> {
  console.info(`${name}: ${JSON.stringify(figures)}`);
  await mkdir('test/artifacts', { recursive: true });
  await writeFile(`test/artifacts/${name}.json`, `${JSON.stringify(figures, null, 2)}\n`);
}
