import type { Db, Page } from '../../index.js';

/**
 * The system host's view of the demo's tables, on the admin pool (its role bypasses row
 * security, so every tenant's rows are visible: these are filtered by tenant_id).
 */

/** A project of some tenant, as the system host lists them. */
export interface TenantProjectRow {
  tenant_id: number;
  id: string;
  name: string;
  created_at: string;
}

/** The tables whose rows the tenant summary counts; a fixed list, never request input. */
export type CountedTable = 'members' | 'projects' | 'tasks';

/** Row counts per tenant for a batch of tenants, in one statement (a DataLoader batch). */
export function countByTenant(
  db: Db,
  table: CountedTable,
  tenantIds: readonly number[],
): Promise<{ tenant_id: number; n: number }[]> {
  return db.query({
    name: `admin.count.${table}`,
    text: `SELECT tenant_id, count(*)::int AS n FROM app.${table}
           WHERE tenant_id = ANY($1::int[]) GROUP BY tenant_id`,
    values: [tenantIds],
  });
}

/** One page of projects for each of many tenants, like tasks.taskPagesByParent. */
export function projectPagesByTenant(
  db: Db,
  tenantIds: readonly number[],
  page: Page,
): Promise<TenantProjectRow[]> {
  return db.query({
    name: 'admin.projectPages',
    text: `SELECT tenant_id, id, name, created_at FROM (
             SELECT p.*, row_number() OVER (PARTITION BY p.tenant_id ORDER BY p.id) AS rn
             FROM app.projects p
             WHERE p.tenant_id = ANY($1::int[]) AND p.id > coalesce($2::bigint, 0)
           ) ranked
           WHERE rn <= $3
           ORDER BY tenant_id, id`,
    values: [tenantIds, page.afterId, page.limit + 1],
  });
}
