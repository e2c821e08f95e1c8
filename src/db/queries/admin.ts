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
  /** Set by `tenantql tenants purge`: the row is a tombstone (SPEC §11). */
  purged_at: Date | null;
  /** The newest record of app.lifecycle_events for the tenant (who ran which command, when). */
  last_lifecycle_event: LifecycleEventRow | null;
}

export interface LifecycleEventRow {
  command: 'provision' | 'export' | 'import' | 'move' | 'purge';
  actor: string;
  /** ISO 8601, from json_build_object. */
  at: string;
  /** What the command recorded (rows, placement, database…): flat scalars, by command. */
  detail: Record<string, unknown>;
}

// One shape of an event for both reads below, so they cannot drift apart.
const EVENT = `json_build_object('command', e.command, 'actor', e.actor, 'at', e.at, 'detail', e.detail)`;

// The last event by the (tenant, at DESC) index: one index probe per tenant, in the same statement.
const TENANT_COLUMNS = `id, subdomain, name, kind, disabled, removed_at IS NOT NULL AS removed, isolation, purged_at,
  (SELECT ${EVENT} FROM app.lifecycle_events e
    WHERE e.tenant = app.tenants.id ORDER BY e.at DESC LIMIT 1) AS last_lifecycle_event`;

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

/**
 * The newest `limit` lifecycle events of each of many tenants, newest first: one statement for
 * a page of tenants, an index probe each. The events live in the main database for every tier.
 */
export function lifecycleEventsByTenant(
  db: Db,
  tenantIds: readonly number[],
  limit: number,
): Promise<{ tenant: number; event: LifecycleEventRow }[]> {
  return db.query({
    name: 'admin.lifecycleEvents',
    text: `SELECT t.tenant, l.event FROM unnest($1::int[]) AS t(tenant)
           CROSS JOIN LATERAL (SELECT e.at, ${EVENT} AS event FROM app.lifecycle_events e
             WHERE e.tenant = t.tenant ORDER BY e.at DESC LIMIT $2) l
           ORDER BY t.tenant, l.at DESC`,
    values: [tenantIds, limit],
  });
}
