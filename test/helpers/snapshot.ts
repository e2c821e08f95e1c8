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
