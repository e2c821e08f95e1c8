import pg from 'pg';
import type { Db } from '../src/db/queries/rows.js';
import { beginStatement } from '../src/db/request-transaction.js';
import { membersByIds } from '../src/example/queries/members.js';
import { listProjects } from '../src/example/queries/projects.js';
import { taskPagesByParent } from '../src/example/queries/tasks.js';

/**
 * Scenario G, the raw ceiling: exactly the SQL the server sends for the nested query C (the same
 * begin-and-configure string, the same named statements from src/db/queries, COMMIT), over
 * the runtime role so row security applies, from `connections` clients each running one
 * transaction after another. No HTTP, no GraphQL: what PostgreSQL and the pg driver alone do.
 *
 * Input: env BENCH_RAW (JSON). Output: one `BENCH_JSON {...}` line.
 */
interface Options {
  url: string;
  tenants: number[];
  connections: number;
  warmupSeconds: number;
  seconds: number;
}

const options = JSON.parse(process.env.BENCH_RAW ?? '{}') as Options;

async function transaction(client: pg.Client, tenantId: number): Promise<void> {
  const db: Db = { query: async (q) => (await client.query(q as pg.QueryConfig)).rows };
  await client.query(
    beginStatement({
      tenantId,
      userId: `bench-user-${tenantId}`,
      actorTenantId: undefined,
      statementTimeoutMs: 5000,
    }),
  );
  try {
    const projects = (await listProjects(db, { afterId: null, limit: 20 })).slice(0, 20);
    const page = { afterId: null, limit: 10 };
    const tasks = await taskPagesByParent(
      db,
      'project_id',
      projects.map((p) => p.id),
      page,
      null,
    );
    // The member loader's keys: assignees of the first `limit` tasks of each project, first-seen order.
    const perProject = new Map<string, number>();
    const assignees = new Set<string>();
    for (const task of tasks) {
      const seen = perProject.get(task.project_id) ?? 0;
      perProject.set(task.project_id, seen + 1);
      if (seen < page.limit && task.assignee_id) assignees.add(task.assignee_id);
    }
    if (assignees.size > 0) await membersByIds(db, [...assignees]);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

async function main(): Promise<void> {
  const clients = await Promise.all(
    Array.from({ length: options.connections }, async () => {
      const client = new pg.Client({ connectionString: options.url, application_name: 'tenantql bench raw' });
      await client.connect();
      return client;
    }),
  );
  const measureFrom = performance.now() + options.warmupSeconds * 1000;
  const measureTo = measureFrom + options.seconds * 1000;
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  // The runner reads PostgreSQL's CPU time when this line appears, and again when we exit.
  let cpuFrom = process.cpuUsage();
  setTimeout(() => {
    cpuFrom = process.cpuUsage();
    process.stdout.write('BENCH_MEASURING\n');
  }, options.warmupSeconds * 1000);
  await Promise.all(
    clients.map(async (client) => {
      while (performance.now() < measureTo) {
        const tenantId = options.tenants[next++ % options.tenants.length]!;
        const started = performance.now();
        let failed = false;
        try {
          await transaction(client, tenantId);
        } catch {
          failed = true;
        }
        const ended = performance.now();
        if (started >= measureFrom && ended <= measureTo) {
          latencies.push(ended - started);
          if (failed) errors++;
        }
      }
    }),
  );
  const used = process.cpuUsage(cpuFrom);
  const cpuMs = (used.user + used.system) / 1000;
  await Promise.all(clients.map((c) => c.end()));

  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  const result = {
    requests: latencies.length,
    seconds: options.seconds,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    errors,
    cpuMs,
  };
  process.stdout.write(`BENCH_JSON ${JSON.stringify(result)}\n`);
}

await main();
