import { withClient } from './db.js';

const SNAPSHOT = `
  SELECT json_build_object(
    'members', (SELECT json_agg(m ORDER BY m.tenant_id, m.id) FROM app.members m),
    'projects', (SELECT json_agg(p ORDER BY p.tenant_id, p.id) FROM app.projects p),
    'tasks', (SELECT json_agg(x ORDER BY x.tenant_id, x.id) FROM app.tasks x)) AS snapshot`;

/**
 * Every row of the core tenant tables, read as superuser (no RLS applies): compare two
 * snapshots to prove a request wrote nothing, in any tenant.
 */
export function tenantRowsSnapshot(superuserUrl: string): Promise<unknown> {
  return withClient(superuserUrl, async (client) => (await client.query(SNAPSHOT)).rows[0].snapshot);
}

/**
 * Every row of every table that carries `tenant_id` (read from the catalog, as superuser), so a
 * table added later is covered without naming it: compare two snapshots to prove a request
 * wrote nothing anywhere.
 */
export function everyTenantRowSnapshot(superuserUrl: string): Promise<Record<string, unknown>> {
  return withClient(superuserUrl, async (client) => {
    const tables = await client.query<{ name: string }>(
      `SELECT format('%I.%I', table_schema, table_name) AS name FROM information_schema.columns
       WHERE column_name = 'tenant_id' AND table_schema NOT IN ('pg_catalog', 'information_schema')
       ORDER BY 1`,
    );
    const snapshot: Record<string, unknown> = {};
    for (const { name } of tables.rows) {
      const rows = await client.query(`SELECT json_agg(t ORDER BY t::text) AS rows FROM ${name} t`);
      snapshot[name] = rows.rows[0].rows;
    }
    return snapshot;
  });
}
