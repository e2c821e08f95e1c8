import type { Pool } from '../db/pool.js';
import { withClient } from '../db/short-client.js';
import type { TenantSet } from '../tenancy/tenant-set.js';
import type { Isolation } from '../tenancy/tenants-file.js';
import type { TenantSecrets } from './secrets-file.js';

/**
 * Where each tenant's rows are, as the main database's tenants table records it (SPEC §10);
 * `purged` for a tombstone of `tenants purge` (SPEC §11): it has no rows anywhere. Only the
 * exceptions are listed: a tenant not in the map is in the shared database (so a reload of
 * 10,000 shared tenants reads no rows here, not 10,000).
 */
export type Placements = ReadonlyMap<number, Isolation | 'purged'>;

/** A client or pool of the main database whose role may read every row of app.tenants. */
interface Queryable {
  query<R>(text: string): Promise<{ rows: R[] }>;
}

export async function readPlacements(db: Queryable): Promise<Placements> {
  const { rows } = await db.query<{ id: number; isolation: Isolation | 'purged' }>(
    `SELECT id, CASE WHEN purged_at IS NULL THEN isolation ELSE 'purged' END AS isolation FROM app.tenants
      WHERE isolation <> 'shared' OR purged_at IS NOT NULL`,
  );
  return new Map(rows.map((row) => [row.id, row.isolation]));
}

/**
 * Reads where every tenant's rows are (app.tenants.isolation), through the same role as the
 * sync: the runtime role sees only its own tenant's row.
 */
export function tenantsTablePlacements(options: {
  adminPool: Pool | undefined;
  ownerUrl: string | undefined;
}): (() => Promise<Placements>) | undefined {
  const { adminPool, ownerUrl } = options;
  if (adminPool) return () => readPlacements(adminPool);
  if (!ownerUrl) return undefined;
  return () => withClient(ownerUrl, readPlacements, 'tenantql tenants sync');
}

/**
 * What stops a tenant set from serving: a tenant whose file `isolation` is not where its rows
 * are (switched without `tenants move`, or not provisioned yet: its data would not be there),
 * or a dedicated tenant without credentials. Each line names the command that fixes it.
 */
export function placementProblems(
  set: TenantSet,
  placements: Placements,
  secrets: TenantSecrets,
  secretsFile: string,
): string[] {
  const problems: string[] = [];
  for (const tenant of set.all()) {
    const placed = placements.get(tenant.id) ?? 'shared';
    const who = `tenant ${tenant.id} (${tenant.subdomain})`;
    if (placed === 'purged') {
      // Kept "disabled": nothing of it is served, and nothing is left to check.
      if (!tenant.disabled) {
        problems.push(
          `${who}: tenant ${tenant.id} was purged (\`tenantql tenants purge\`); its id is not reused: give this tenant another id, or keep it "disabled": true`,
        );
      }
    } else if (tenant.isolation === 'database' && placed !== 'database') {
      problems.push(
        `${who}: "isolation": "database" in the file, but its rows are in the shared database; run \`tenantql tenants provision ${tenant.id}\` first (\`tenantql tenants move ${tenant.id} --to database\` if it has rows)`,
      );
    } else if (tenant.isolation === 'shared' && placed === 'database') {
      problems.push(
        `${who}: "isolation": "shared" in the file, but its rows are in a database of its own; run \`tenantql tenants move ${tenant.id} --to shared\`, or keep "isolation": "database"`,
      );
    } else if (tenant.isolation === 'database' && !secrets.has(tenant.id)) {
      problems.push(
        `${who}: no credentials in ${secretsFile}; run \`tenantql tenants provision ${tenant.id}\` (it keeps the data and writes them)`,
      );
    }
  }
  return problems;
}
