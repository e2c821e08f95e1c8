import pg from 'pg';

/** The seeded tenants are ids FIRST_TENANT .. FIRST_TENANT + TENANTS - 1 (all regular ids). */
export const FIRST_TENANT = 1000;
export const SHAPE = { tenants: 200, members: 20, projects: 50, tasksPerProject: 20 } as const;
const SHAPE_KEY = `v1 ${SHAPE.tenants}x${SHAPE.members}x${SHAPE.projects}x${SHAPE.tasksPerProject} from ${FIRST_TENANT}`;

export const seededTenantIds = (): number[] =>
  Array.from({ length: SHAPE.tenants }, (_, i) => FIRST_TENANT + i);

/**
 * Every seeded name carries its tenant as `T<id> `, so a response can be checked for rows of
 * another tenant by text alone.
 */
export const tenantMarker = (id: number) => `T${id} `;

/**
 * Seeds once per database, as the superuser (it bypasses row security): one INSERT … SELECT
 * generate_series per table, in one transaction, then a marker row in bench.seed. A database
 * holding the marker is reused as it is. Ids are given, numbered per tenant and table: the
 * tenant counters then move once per statement, not once per row (see migrations/004).
 */
export async function seed(superuserDbUrl: string): Promise<{ reused: boolean; ms: number }> {
  const started = performance.now();
  const client = new pg.Client({ connectionString: superuserDbUrl, application_name: 'tenantql bench seed' });
  await client.connect();
  try {
    await client.query('CREATE SCHEMA IF NOT EXISTS bench');
    await client.query(
      'CREATE TABLE IF NOT EXISTS bench.seed (shape text PRIMARY KEY, at timestamptz DEFAULT now())',
    );
    const found = await client.query('SELECT 1 FROM bench.seed WHERE shape = $1', [SHAPE_KEY]);
    if (found.rowCount) return { reused: true, ms: performance.now() - started };

    const first = FIRST_TENANT;
    const last = FIRST_TENANT + SHAPE.tenants - 1;
    await client.query('BEGIN');
    await client.query(
      `INSERT INTO app.tenants (id, subdomain, name, kind)
       SELECT t, 'b' || t, 'Bench tenant ' || t, 'regular' FROM generate_series($1::int, $2::int) t
       ON CONFLICT (id) DO NOTHING`,
      [first, last],
    );
    await client.query(
      `INSERT INTO app.members (tenant_id, id, name, email)
       SELECT t, m, format('T%s member %s', t, m), format('m%s@t%s.bench.test', m, t)
       FROM generate_series($1::int, $2::int) t, generate_series(1, $3::int) m ORDER BY t, m`,
      [first, last, SHAPE.members],
    );
    await client.query(
      `INSERT INTO app.projects (tenant_id, id, name)
       SELECT t, p, format('T%s project %s', t, p)
       FROM generate_series($1::int, $2::int) t, generate_series(1, $3::int) p ORDER BY t, p`,
      [first, last, SHAPE.projects],
    );
    // Each task gets one of its tenant's members (row_number within the tenant picks it).
    await client.query(
      `INSERT INTO app.tasks (tenant_id, id, project_id, title, status, assignee_id)
       SELECT p.tenant_id, (p.id - 1) * $3 + k, p.id, format('T%s task %s.%s', p.tenant_id, p.id, k),
              (ARRAY['TODO', 'IN_PROGRESS', 'DONE'])[1 + k % 3], m.id
       FROM app.projects p
       CROSS JOIN generate_series(1, $3::int) k
       JOIN (SELECT tenant_id, id, row_number() OVER (PARTITION BY tenant_id ORDER BY id) AS rn
             FROM app.members WHERE tenant_id BETWEEN $1 AND $2) m
         ON m.tenant_id = p.tenant_id AND m.rn = 1 + (p.id + k) % $4
       WHERE p.tenant_id BETWEEN $1 AND $2
       ORDER BY p.tenant_id, p.id, k`,
      [first, last, SHAPE.tasksPerProject, SHAPE.members],
    );
    await client.query('INSERT INTO bench.seed (shape) VALUES ($1)', [SHAPE_KEY]);
    await client.query('COMMIT');
    await client.query('ANALYZE app.tenants, app.members, app.projects, app.tasks');
    return { reused: false, ms: performance.now() - started };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    await client.end();
  }
}

export interface TenantIds {
  projects: string[];
  tasks: string[];
}

/** A few project and task ids per seeded tenant, for the write mix (scenario E). */
export async function sampleIds(superuserDbUrl: string, perTenant: number): Promise<Map<number, TenantIds>> {
  const client = new pg.Client({ connectionString: superuserDbUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ tenant_id: number; projects: string[]; tasks: string[] }>(
      `SELECT p.tenant_id,
              (array_agg(p.id ORDER BY p.id))[1:$3] AS projects,
              (SELECT (array_agg(t.id ORDER BY t.id))[1:$3] FROM app.tasks t WHERE t.tenant_id = p.tenant_id) AS tasks
       FROM app.projects p WHERE p.tenant_id BETWEEN $1 AND $2 GROUP BY p.tenant_id`,
      [FIRST_TENANT, FIRST_TENANT + SHAPE.tenants - 1, perTenant],
    );
    return new Map(
      rows.map((r) => [r.tenant_id, { projects: r.projects.map(String), tasks: r.tasks.map(String) }]),
    );
  } finally {
    await client.end();
  }
}

/**
 * After scenario E: its updates leave dead row versions in app.tasks, and the scenarios after
 * it in the round would read past them. A VACUUM ANALYZE (not measured) gives every read
 * scenario the same table, whatever ran before it.
 */
export async function vacuumWrittenTables(superuserDbUrl: string): Promise<void> {
  const client = new pg.Client({
    connectionString: superuserDbUrl,
    application_name: 'tenantql bench vacuum',
  });
  await client.connect();
  try {
    await client.query('VACUUM (ANALYZE) app.tasks');
  } finally {
    await client.end();
  }
}
