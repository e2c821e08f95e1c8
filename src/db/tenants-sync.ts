import type { TenantSet } from '../tenancy/tenant-set.js';
import type { Pool } from './pool.js';

/**
 * Upserts the tenants table from the file through app.sync_tenants (a SECURITY DEFINER
 * function: the runtime role itself may only read its own tenant row). Tenants missing from
 * the file are marked removed; none of their data is deleted.
 */
export async function syncTenantsTable(pool: Pool, tenants: TenantSet): Promise<void> {
  const rows = tenants.all().map((t) => ({
    id: t.id,
    subdomain: t.subdomain,
    name: t.name,
    kind: t.kind,
    disabled: t.disabled,
  }));
  await pool.query('SELECT app.sync_tenants($1::jsonb)', [JSON.stringify(rows)]);
}
