import pg from 'pg';
import { hostOf, QUERIES } from './fixtures.js';
import { post } from './processes.js';
import { tenantMarker } from './seed.js';

interface Named {
  name?: string;
  title?: string;
}
type Edges<T> = { edges: { node: T }[] };
interface NestedData {
  tenant?: { id: number; name: string };
  projects: Edges<Named & { tasks: Edges<Named & { assignee: Named | null }> }>;
}

/**
 * Problems in a nested-query response for tenant `id`: errors, a wrong page shape, or any name
 * without the tenant's marker (a row of another tenant). Empty when the response is right.
 */
export function checkNested(
  status: number,
  text: string,
  id: number,
  expect: { projects: number; tasks: number },
): string[] {
  if (status !== 200) return [`HTTP ${status}: ${text.slice(0, 200)}`];
  const body = JSON.parse(text) as { data?: NestedData; errors?: unknown[] };
  if (body.errors || !body.data) return [`errors: ${JSON.stringify(body.errors).slice(0, 200)}`];
  const problems: string[] = [];
  const marker = tenantMarker(id);
  const own = (name: string | undefined) => name?.startsWith(marker) ?? false;
  const { tenant, projects } = body.data;
  if (tenant && (tenant.id !== id || tenant.name !== `Bench tenant ${id}`)) {
    problems.push(`wrong tenant: ${JSON.stringify(tenant)} on the host of ${id}`);
  }
  if (projects.edges.length !== expect.projects) problems.push(`${projects.edges.length} projects`);
  for (const { node: project } of projects.edges) {
    if (!own(project.name)) problems.push(`wrong tenant: project ${project.name}`);
    if (project.tasks.edges.length !== expect.tasks) problems.push(`${project.tasks.edges.length} tasks`);
    for (const { node: task } of project.tasks.edges) {
      if (!own(task.title)) problems.push(`wrong tenant: task ${task.title}`);
      if (task.assignee && !own(task.assignee.name))
        problems.push(`wrong tenant: member ${task.assignee.name}`);
    }
  }
  return problems;
}

interface Nodes<T> {
  nodes: T[];
}
interface PostgraphileData {
  allProjects: Nodes<{
    name: string;
    tasksByTenantIdAndProjectId: Nodes<{
      title: string;
      status: string;
      memberByTenantIdAndAssigneeId: { name: string } | null;
    }>;
  }>;
}

/**
 * Scenario P's answer (QUERIES.nestedPostgraphile) rewritten in C's shape and key order, so that
 * checkNested applies to it and it can be compared with C's answer as text. A body that is
 * not a clean answer is returned as it is.
 */
export function postgraphileAsNested(text: string): string {
  let body: { data?: PostgraphileData; errors?: unknown };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    return text;
  }
  if (body.errors || !body.data?.allProjects) return text;
  const projects = body.data.allProjects.nodes.map((p) => ({
    node: {
      name: p.name,
      tasks: {
        edges: p.tasksByTenantIdAndProjectId.nodes.map((t) => ({
          node: { title: t.title, status: t.status, assignee: t.memberByTenantIdAndAssigneeId },
        })),
      },
    },
  }));
  return JSON.stringify({ data: { projects: { edges: projects } } });
}

/** The reload check's query: the tenant itself plus a few rows of each kind. */
export const SAMPLE_QUERY =
  '{ tenant { id name } projects(first: 5) { edges { node { name tasks(first: 3) { edges { node { title assignee { name } } } } } } } }';

/**
 * Whether responses are really served from a cache: prime one tenant's nested query, change a
 * row behind the server's back (as the superuser, so nothing invalidates), and ask again. A
 * cached response still shows the old name. The row is put back either way.
 */
export async function responseCacheServes(
  port: number,
  superuserDbUrl: string,
  tenantId: number,
  authorization: string,
): Promise<boolean> {
  const body = JSON.stringify({ query: QUERIES.nested });
  const ask = () => post(port, hostOf(tenantId), authorization, body);
  const client = new pg.Client({ connectionString: superuserDbUrl });
  await client.connect();
  try {
    await ask();
    const before = await ask();
    const { rows } = await client.query<{ id: string; name: string }>(
      'SELECT id, name FROM app.projects WHERE tenant_id = $1 ORDER BY id LIMIT 1',
      [tenantId],
    );
    const project = rows[0]!;
    await client.query('UPDATE app.projects SET name = $2 WHERE tenant_id = $1 AND id = $3', [
      tenantId,
      `${project.name} (changed by the cache probe)`,
      project.id,
    ]);
    try {
      const after = await ask();
      return after.status === 200 && after.body === before.body;
    } finally {
      await client.query('UPDATE app.projects SET name = $2 WHERE tenant_id = $1 AND id = $3', [
        tenantId,
        project.name,
        project.id,
      ]);
    }
  } finally {
    await client.end();
  }
}
