import pg from 'pg';
import type { TenantSet } from '../tenancy/tenant-set.js';
import type { Pool } from './pool.js';

/** Writes the tenants table from a tenant set. */
export type SyncTenantsTable = (tenants: TenantSet) => Promise<void>;

/** Start-up fails with this line when no role may sync the tenants table. */
export const NO_SYNC_ROLE =
  'DATABASE_ADMIN_URL or DATABASE_OWNER_URL must be set: the tenants table is synced through one of them, never through the runtime role of DATABASE_URL';

/**
 * Upserts the tenants table from the file through app.sync_tenants (SECURITY DEFINER; tenants
 * missing from the file are marked removed, none of their data is deleted), as a role that
 * serves no tenant requests: the admin pool, which serves only the system host, else a
 * connection as the owner (DATABASE_OWNER_URL) opened for the sync and closed after it.
 * Undefined when neither is configured; the runtime role may not execute the function.
 */
export function tenantsTableSync(options: {
  adminPool: Pool | undefined;
  ownerUrl: string | undefined;
}): SyncTenantsTable | undefined {
  const { adminPool, ownerUrl } = options;
  if (adminPool) return (tenants) => sync(adminPool, tenants);
  if (!ownerUrl) return undefined;
  return async (tenants) => {
    const client = new pg.Client({ connectionString: ownerUrl, application_name: 'tenantql tenants sync' });
    try {
      await client.connect();
      await sync(client, tenants);
    } finally {
      await client.end();
    }
  };
}

async function sync(db: Pool | pg.Client, tenants: TenantSet): Promise<void> {
  const rows = tenants.all().map((t) => ({
    id: t.id,
    subdomain: t.subdomain,
    name: t.name,
    kind: t.kind,
    disabled: t.disabled,
  }));
  await db.query('SELECT app.sync_tenants($1::jsonb)', [JSON.stringify(rows)]);
}
