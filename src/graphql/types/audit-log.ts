import { type AuditRow, countAuditEntries, listAuditEntries } from '../../db/queries/audit.js';
import { AUTHENTICATED, builder } from '../builder.js';
import { encodeGlobalId, pageFrom, toConnection } from '../ids.js';
import { connectionOf } from './connection.js';
import { ViewerKind } from './viewer.js';

const AuditEntry = builder.objectRef<AuditRow>('AuditEntry').implement({
  description: 'One successful mutation field: who ran it, as what, and on which object.',
  fields: (t) => ({
    id: t.id({ resolve: (row) => encodeGlobalId('AuditEntry', row.tenant_id, row.id) }),
    at: t.field({ type: 'DateTime', resolve: (row) => row.at }),
    subject: t.exposeString('subject', { nullable: true }),
    kind: t.field({ type: ViewerKind, resolve: (row) => row.principal_kind }),
    actorTenantId: t.exposeInt('actor_tenant_id', {
      nullable: true,
      description: 'The virtual tenant that acted through a service token.',
    }),
    operation: t.exposeString('operation', { description: 'The mutation field, e.g. createProject.' }),
    entityId: t.exposeID('entity_id', { nullable: true, description: 'Global id of the object touched.' }),
  }),
});

const AuditEntryConnection = connectionOf('AuditEntry', AuditEntry);

builder.queryField('auditLog', (t) =>
  t.field({
    type: AuditEntryConnection,
    authScopes: AUTHENTICATED,
    description: "This tenant's audit log, newest first. Row-level security confines it to this tenant.",
    args: { first: t.arg.int(), after: t.arg.string() },
    resolve: async (_root, args, ctx) => {
      const page = pageFrom(args);
      const rows = await listAuditEntries(ctx.db, page);
      return toConnection(rows, page, () => countAuditEntries(ctx.db));
    },
  }),
);
