import type { Db, Page } from './rows.js';

export type PrincipalKind = 'USER' | 'SERVICE' | 'API_KEY' | 'ANONYMOUS';

export interface AuditRow {
  tenant_id: number;
  id: string;
  at: string;
  subject: string | null;
  principal_kind: PrincipalKind;
  actor_tenant_id: number | null;
  operation: string;
  entity_id: string | null;
}

export interface AuditEntry {
  tenantId: number;
  subject: string | null;
  kind: PrincipalKind;
  actorTenantId: number | null;
  operation: string;
  entityId: string | null;
}

const COLUMNS = 'tenant_id, id, at, subject, principal_kind, actor_tenant_id, operation, entity_id';

/** Called in the mutation's own transaction, so the row commits or rolls back with the change. */
export async function insertAuditEntry(db: Db, entry: AuditEntry): Promise<void> {
  await db.query({
    name: 'audit.insert',
    text: `INSERT INTO app.audit_log (tenant_id, subject, principal_kind, actor_tenant_id, operation, entity_id)
           VALUES ($1, $2, $3, $4, $5, $6)`,
    values: [entry.tenantId, entry.subject, entry.kind, entry.actorTenantId, entry.operation, entry.entityId],
  });
}

/** The session tenant's log (under RLS), newest first; `page.afterId` is the last id already seen. */
export function listAuditEntries(db: Db, page: Page): Promise<AuditRow[]> {
  return db.query<AuditRow>({
    name: 'audit.list',
    text: `SELECT ${COLUMNS} FROM app.audit_log
           WHERE ($1::bigint IS NULL OR id < $1)
           ORDER BY id DESC LIMIT $2`,
    values: [page.afterId, page.limit + 1],
  });
}

/**
 * Every tenant's log, on the admin pool (BYPASSRLS), optionally of one tenant: newest first by
 * `at`. Row ids are numbered per tenant, so they order nothing across tenants; `page.afterId`
 * is `<tenant id>:<row id>` of the last entry seen (entries are never updated or deleted, so
 * it still names the same one).
 */
export function listAuditEntriesOfAllTenants(
  db: Db,
  page: Page,
  tenantId: number | null,
): Promise<AuditRow[]> {
  return db.query<AuditRow>({
    name: 'audit.listAll',
    text: `SELECT ${COLUMNS} FROM app.audit_log
           WHERE ($2::int IS NULL OR tenant_id = $2)
             AND ($1::text IS NULL OR (at, tenant_id, id) < (
                   SELECT at, tenant_id, id FROM app.audit_log
                    WHERE tenant_id = split_part($1, ':', 1)::bigint AND id = split_part($1, ':', 2)::bigint))
           ORDER BY at DESC, tenant_id DESC, id DESC LIMIT $3`,
    values: [page.afterId, tenantId, page.limit + 1],
  });
}

export async function countAuditEntries(db: Db, tenantId: number | null = null): Promise<number> {
  const [row] = await db.query<{ n: number }>({
    name: 'audit.count',
    text: 'SELECT count(*)::int AS n FROM app.audit_log WHERE ($1::int IS NULL OR tenant_id = $1)',
    values: [tenantId],
  });
  return row?.n ?? 0;
}
