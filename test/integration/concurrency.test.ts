import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestApp } from '../helpers/app.js';
import { withClient } from '../helpers/db.js';

// SPEC §5 under load: a few hundred interleaved requests over three tenants share a pool of
// three connections; every response holds only its own tenant's rows.
const TENANTS = [
  { id: 2, host: 'tenant1.localhost' },
  { id: 3, host: 'tenant2.localhost' },
  { id: 4, host: 'tenant3.localhost' },
] as const;
const REQUESTS = 300;
const CONCURRENCY = 30;
const PROJECTS_PER_TENANT = 4;
const TASKS_PER_PROJECT = 3;

let t: TestApp;
const tokens = new Map<number, string>();

beforeAll(async () => {
  // Three connections and no reserve: this test is about isolation under contention; how the
  // pool is shared is tested in pool-sharing.test.ts.
  t = await TestApp.start({ env: { PG_POOL_MAX: '3', PG_POOL_RESERVE: '0' } });
  for (const { id } of TENANTS) tokens.set(id, await t.token(id));
  // Marker names: every project and task carries its tenant id, so a stray row is visible.
  await withClient(t.db.superuserUrl, (client) =>
    client.query(
      `WITH p AS (
         INSERT INTO app.projects (tenant_id, name)
         SELECT tid, 'T' || tid || '-project-' || n FROM unnest($1::int[]) tid, generate_series(1, $2) n
         RETURNING tenant_id, id, name)
       INSERT INTO app.tasks (tenant_id, project_id, title)
       SELECT p.tenant_id, p.id, p.name || '-task-' || k FROM p, generate_series(1, $3) k`,
      [TENANTS.map((x) => x.id), PROJECTS_PER_TENANT, TASKS_PER_PROJECT],
    ),
  );
});
afterAll(() => t.close());

const READ = `{ viewer { tenantId } projects(first: 10) { totalCount edges { node { name
  tasks(first: 10) { totalCount edges { node { title project { name } } } } } } } }`;
const WRITE = 'mutation($n: String!) { createProject(input: { name: $n }) { name } }';

/** Runs `count` jobs, at most `width` at a time. */
async function pool(count: number, width: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await job(next++);
  };
  await Promise.all(Array.from({ length: width }, worker));
}

describe('interleaved requests over three tenants', () => {
  it(`${REQUESTS} requests at concurrency ${CONCURRENCY}, pool max 3: each sees only its own rows`, async () => {
    const written = new Map<number, number>(TENANTS.map((x) => [x.id, 0]));
    const failures: string[] = [];
    await pool(REQUESTS, CONCURRENCY, async (i) => {
      const tenant = TENANTS[i % TENANTS.length]!;
      const token = tokens.get(tenant.id)!;
      const marker = `T${tenant.id}-`;
      if (i % 10 === 9) {
        // Some writes in between, so transactions of different tenants overlap on the pool.
        const res = await t.gql(tenant.host, WRITE, { token, variables: { n: `${marker}written-${i}` } });
        if (res.body.errors) failures.push(`#${i} write: ${JSON.stringify(res.body.errors)}`);
        else written.set(tenant.id, written.get(tenant.id)! + 1);
        return;
      }
      const res = await t.gql(tenant.host, READ, { token });
      if (res.status !== 200 || res.body.errors) {
        failures.push(`#${i} ${res.status} ${JSON.stringify(res.body.errors)}`);
        return;
      }
      const data = res.body.data!;
      if (data.viewer.tenantId !== tenant.id) failures.push(`#${i} viewer ${data.viewer.tenantId}`);
      const names: string[] = [];
      for (const { node: project } of data.projects.edges) {
        names.push(project.name);
        for (const { node: task } of project.tasks.edges) names.push(task.title, task.project.name);
      }
      const stray = names.filter((name) => !name.startsWith(marker));
      if (stray.length) failures.push(`#${i} tenant ${tenant.id} saw ${stray.join(', ')}`);
      if (names.length < PROJECTS_PER_TENANT * (1 + 2 * TASKS_PER_PROJECT)) {
        failures.push(`#${i} tenant ${tenant.id} saw too few rows (${names.length})`);
      }
    });
    expect(failures).toEqual([]);

    // Every write landed in its own tenant, as the superuser sees it.
    const { rows } = await withClient(t.db.superuserUrl, (client) =>
      client.query<{ tenant_id: number; written: number; foreign: number }>(
        `SELECT tenant_id,
                count(*) FILTER (WHERE name LIKE '%-written-%')::int AS written,
                count(*) FILTER (WHERE name NOT LIKE 'T' || tenant_id || '-%')::int AS foreign
         FROM app.projects GROUP BY tenant_id ORDER BY tenant_id`,
      ),
    );
    expect(rows).toEqual(TENANTS.map((x) => ({ tenant_id: x.id, written: written.get(x.id), foreign: 0 })));
    expect([...written.values()].reduce((a, b) => a + b)).toBe(REQUESTS / 10);
    expect(t.pool.totalCount).toBeLessThanOrEqual(3);
  });
});
