import type pg from 'pg';
import type { TenantSet } from '../tenancy/tenant-set.js';
import type { Tenant } from '../tenancy/tenants-file.js';
import type { Pool } from './pool.js';
import { withClient } from './short-client.js';

/**
 * Writes the tenants table from a tenant set. Given the set it replaces (a reload), only what
 * changed since is written, if that set was the last one written here.
 */
export type SyncTenantsTable = (tenants: TenantSet, previous?: TenantSet) => Promise<void>;

/** Start-up fails with this line when no role may sync the tenants table. */
export const NO_SYNC_ROLE =
  'DATABASE_ADMIN_URL or DATABASE_OWNER_URL must be set: the tenants table is synced through one of them, never through the runtime role of DATABASE_URL';

/**
 * Upserts the tenants table from the file through app.sync_tenants (SECURITY DEFINER; tenants
 * missing from the file are marked removed, none of their data is deleted) at start, and on a
 * reload through app.sync_tenant_changes with only the tenants new or changed and the ids gone
 * (10,000 unchanged tenants cost PostgreSQL nothing then), as a role that
 * serves no tenant requests: the admin pool, which serves only the system host, else a
 * connection as the owner (DATABASE_OWNER_URL) opened for the sync and closed after it.
 * Undefined when neither is configured; the runtime role may not execute the function.
 */
export function tenantsTableSync(options: {
  adminPool: Pool | undefined;
  ownerUrl: string | undefined;
}): SyncTenantsTable | undefined {
  const { adminPool, ownerUrl } = options;
  let through: (work: (db: Pool | pg.Client) => Promise<void>) => Promise<void>;
  if (adminPool) through = (work) => work(adminPool);
  else if (ownerUrl) {
    through = (work) => withClient(ownerUrl, work, 'tenantql tenants sync');
  } else return undefined;
  // The set this process last wrote, whole: a reload from it sends only the difference.
  let written: TenantSet | undefined;
  return async (tenants, previous) => {
    const base = previous && previous === written ? previous : undefined;
    written = undefined; // until this write succeeds, the next one writes the whole set
    const changes = base ? changesBetween(base, tenants) : undefined;
    if (changes?.changed.length === 0 && changes.removed.length === 0) {
      written = tenants;
      return;
    }
    await through((db) =>
      changes
        ? db
            .query('SELECT app.sync_tenant_changes($1::jsonb, $2::integer[])', [
              JSON.stringify(changes.changed),
              changes.removed,
            ])
            .then(() => {})
        : db
            .query('SELECT app.sync_tenants($1::jsonb)', [JSON.stringify(tenants.all().map(rowOf))])
            .then(() => {}),
    );
    written = tenants;
  };
}

interface Row {
  id: number;
  subdomain: string;
  name: string;
  kind: string;
  disabled: boolean;
}

const rowOf = (t: Tenant): Row => ({
  id: t.id,
  subdomain: t.subdomain,
  name: t.name,
  kind: t.kind,
  disabled: t.disabled,
});

/** The rows of `next` new or different from `previous` (in the table's columns), and the ids gone. */
function changesBetween(previous: TenantSet, next: TenantSet): { changed: Row[]; removed: number[] } {
  const changed: Row[] = [];
  for (const tenant of next.all()) {
    const before = previous.byId(tenant.id);
    if (
      !before ||
      before.subdomain !== tenant.subdomain ||
      before.name !== tenant.name ||
      before.kind !== tenant.kind ||
      before.disabled !== tenant.disabled
    )
      changed.push(rowOf(tenant));
  }
  const removed = previous
    .all()
    .filter((t) => !next.byId(t.id))
    .map((t) => t.id);
  return { changed, removed };
}
