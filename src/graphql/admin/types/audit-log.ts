import { type AuditRow, countAuditEntries, listAuditEntriesOfAllTenants } from '../../../db/queries/audit.js';
import { encodeGlobalId, pageFrom, TENANT_ROW_KEY, tenantRowKey, toConnection } from '../../ids.js';
import { adminBuilder } from '../builder.js';
import { adminConnectionOf } from '../connection.js';

const PrincipalKind = adminBuilder.enumType('PrincipalKind', {
  values: ['USER', 'SERVICE', 'API_KEY', 'ANONYMOUS'] as const,
});

const AuditEntry = adminBuilder.objectRef<AuditRow>('AuditEntry').implement({
  fields: (t) => ({
    id: t.id({ resolve: (row) => encodeGlobalId('AuditEntry', row.tenant_id, row.id) }),
    tenantId: t.exposeInt('tenant_id'),
    at: t.field({ type: 'DateTime', resolve: (row) => row.at }),
    subject: t.exposeString('subject', { nullable: true }),
    kind: t.field({ type: PrincipalKind, resolve: (row) => row.principal_kind }),
    actorTenantId: t.exposeInt('actor_tenant_id', { nullable: true }),
    operation: t.exposeString('operation'),
    entityId: t.exposeID('entity_id', { nullable: true }),
  }),
});

const AuditEntryConnection = adminConnectionOf('AuditEntry', AuditEntry, tenantRowKey);

adminBuilder.queryField('auditLog', (t) =>
  t.field({
    type: AuditEntryConnection,
    description: "Every tenant's audit log, newest first; `tenantId` narrows it to one tenant.",
    args: { first: t.arg.int(), after: t.arg.string(), tenantId: t.arg.int() },
    resolve: async (_root, args, ctx) => {
      const page = pageFrom(args, TENANT_ROW_KEY);
      const tenantId = args.tenantId ?? null;
      const rows = await listAuditEntriesOfAllTenants(ctx.db, page, tenantId);
      return toConnection(rows, page, () => countAuditEntries(ctx.db, tenantId), tenantRowKey);
    },
  }),
);
