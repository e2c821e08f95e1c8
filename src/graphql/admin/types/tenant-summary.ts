import {
  findTenant,
  type LifecycleEventRow,
  listTenants,
  type TenantRow,
} from '../../../db/queries/admin.js';
import { adminBuilder } from '../builder.js';

const TenantKind = adminBuilder.enumType('TenantKind', {
  values: {
    SYSTEM: { value: 'system' },
    VIRTUAL: { value: 'virtual' },
    REGULAR: { value: 'regular' },
  } as const,
});

const TenantIsolation = adminBuilder.enumType('TenantIsolation', {
  description:
    "Where a tenant's rows live: the shared database under row security, or a database of its own.",
  values: {
    SHARED: { value: 'shared' },
    DATABASE: { value: 'database' },
  } as const,
});

const LifecycleCommand = adminBuilder.enumType('LifecycleCommand', {
  values: {
    PROVISION: { value: 'provision' },
    EXPORT: { value: 'export' },
    IMPORT: { value: 'import' },
    MOVE: { value: 'move' },
    PURGE: { value: 'purge' },
  } as const,
});

const LifecycleEvent = adminBuilder.objectRef<LifecycleEventRow>('LifecycleEvent').implement({
  description: 'A lifecycle command run for a tenant (SPEC §11), as app.lifecycle_events records it.',
  fields: (t) => ({
    command: t.field({ type: LifecycleCommand, resolve: (row) => row.command }),
    actor: t.exposeString('actor', {
      description:
        'Who ran it: the operating-system user and host, and the database role (`user@host as role`).',
    }),
    at: t.field({ type: 'DateTime', resolve: (row) => new Date(row.at) }),
  }),
});

/**
 * A tenant as the database knows it. A product adds what it counts or lists per tenant with
 * `adminBuilder.objectFields(TenantSummary, …)` (the demo: its members, projects and tasks).
 */
export const TenantSummary = adminBuilder.objectRef<TenantRow>('TenantSummary');

TenantSummary.implement({
  description: 'A tenant as the database knows it, including tenants removed from the tenants file.',
  fields: (t) => ({
    id: t.exposeInt('id'),
    subdomain: t.exposeString('subdomain'),
    name: t.exposeString('name'),
    kind: t.field({ type: TenantKind, resolve: (row) => row.kind }),
    disabled: t.exposeBoolean('disabled'),
    removed: t.exposeBoolean('removed', { description: 'No longer in the tenants file; its data is kept.' }),
    isolation: t.field({
      type: TenantIsolation,
      description:
        'Where its rows actually are (set by `tenantql tenants provision` and `move`), not what the file asks for.',
      resolve: (row) => row.isolation,
    }),
    purgedAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'When `tenantql tenants purge` erased it; the row stays so the id is not reused.',
      resolve: (row) => row.purged_at,
    }),
    lastLifecycleEvent: t.field({
      type: LifecycleEvent,
      nullable: true,
      description: 'The newest provision, export, import, move or purge of the tenant, and who ran it.',
      resolve: (row) => row.last_lifecycle_event,
    }),
  }),
});

adminBuilder.queryFields((t) => ({
  tenants: t.field({
    type: [TenantSummary],
    description: 'Every tenant, by id.',
    resolve: (_root, _args, ctx) => listTenants(ctx.db),
  }),
  tenant: t.field({
    type: TenantSummary,
    nullable: true,
    args: { id: t.arg.int({ required: true }) },
    resolve: (_root, args, ctx) => findTenant(ctx.db, args.id).then((row) => row ?? null),
  }),
}));
