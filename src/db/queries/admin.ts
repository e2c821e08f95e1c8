import type { Db } from './rows.js';

/**
 * Queries for the system tenant's host. They run on the admin pool, whose role bypasses row
 * level security, so they must name tenant_id themselves; nothing here runs on the runtime
 * pool, where RLS would (correctly) show only tenant 1's rows.
 */
export interface TenantRow {
  id: number;
  subdomain: string;
  name: string;
  kind: 'system' | 'virtual' | 'regular';
  disabled: boolean;
  removed: boolean;
  /** Where its rows are (SPEC §10). */
  isolation: 'shared' | 'database';
}

const TENANT_COLUMNS = 'id, subdomain, name, kind, disabled, removed_at IS NOT NULL AS removed, isolation';

export function listTenants(db: Db): Promise<TenantRow[]> {
  return db.query<TenantRow>({
    name: 'admin.tenants',
    text: `SELECT ${TENANT_COLUMNS} FROM app.tenants ORDER BY id`,
  });
}

export async function findTenant(db: Db, id: number): Promise<TenantRow | undefined> {
  const [row] = await db.query<TenantRow>({
    name: 'admin.tenant',
    text: `SELECT ${TENANT_COLUMNS} FROM app.tenants WHERE id = $1`,
    values: [id],
  });
  return row;
}
