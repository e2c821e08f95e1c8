import DataLoader from 'dataloader';
import {
  findTenant,
  type LifecycleEventRow,
  lifecycleEventsByTenant,
  listTenants,
  type TenantRow,
} from '../../../db/queries/admin.js';
import { badUserInput } from '../../../errors.js';
import { defineLoaderFamily } from '../../request-loaders.js';
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
    summary: t.string({
      description:
        'What it recorded, as `key=value` pairs by key (e.g. `from=shared rows=3177 to=database …`).',
      resolve: (row) => summaryOf(row.detail),
    }),
  }),
});

/** logfmt-like, so an operator reads it without a JSON scalar in the schema; nulls left out. */
function summaryOf(detail: Record<string, unknown>): string {
  return Object.entries(detail)
    .filter(([, value]) => value != null)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([key, value]) => `${key}=${typeof value === 'object' ? JSON.stringify(value) : String(value)}`)
    .join(' ');
}

const MAX_EVENTS = 50;

// The newest events of every tenant of a page in one statement, per distinct `first`.
const lifecycleEvents = defineLoaderFamily(
  (limit: number) => String(limit),
  (db, limit) =>
    new DataLoader<number, LifecycleEventRow[]>(async (ids) => {
      const rows = await lifecycleEventsByTenant(db, ids, limit);
      return ids.map((id) => rows.filter((row) => row.tenant === id).map((row) => row.event));
    }),
);

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
    lifecycleEvents: t.field({
      type: [LifecycleEvent],
      description: `Its lifecycle commands, newest first: who ran what, when (at most ${MAX_EVENTS}).`,
      args: { first: t.arg.int({ defaultValue: 10 }) },
      resolve: (row, args, ctx) => {
        const first = args.first ?? 10;
        if (!Number.isInteger(first) || first < 0 || first > MAX_EVENTS) {
          throw badUserInput(`first must be between 0 and ${MAX_EVENTS}.`);
        }
        return lifecycleEvents(ctx, first).load(row.id);
      },
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
