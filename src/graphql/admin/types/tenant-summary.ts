import { findTenant, listTenants, type TenantRow } from '../../../db/queries/admin.js';
import { encodeGlobalId, pageFrom, toConnection } from '../../ids.js';
import { adminBuilder } from '../builder.js';
import { adminConnectionOf } from '../connection.js';
import type { TenantProjectRow } from '../loaders.js';

const TenantKind = adminBuilder.enumType('TenantKind', {
  values: {
    SYSTEM: { value: 'system' },
    VIRTUAL: { value: 'virtual' },
    REGULAR: { value: 'regular' },
  } as const,
});

const Project = adminBuilder.objectRef<TenantProjectRow>('Project').implement({
  description: "A project of some tenant; `id` is the global id the tenant's own host uses.",
  fields: (t) => ({
    id: t.id({ resolve: (p) => encodeGlobalId('Project', p.tenant_id, p.id) }),
    tenantId: t.exposeInt('tenant_id'),
    name: t.exposeString('name'),
    createdAt: t.field({ type: 'DateTime', resolve: (p) => p.created_at }),
  }),
});

const ProjectConnection = adminConnectionOf('Project', Project);

const TenantSummary = adminBuilder.objectRef<TenantRow>('TenantSummary').implement({
  description: 'A tenant as the database knows it, including tenants removed from the tenants file.',
  fields: (t) => ({
    id: t.exposeInt('id'),
    subdomain: t.exposeString('subdomain'),
    name: t.exposeString('name'),
    kind: t.field({ type: TenantKind, resolve: (row) => row.kind }),
    disabled: t.exposeBoolean('disabled'),
    removed: t.exposeBoolean('removed', { description: 'No longer in the tenants file; its data is kept.' }),
    memberCount: t.int({ resolve: (row, _args, ctx) => ctx.admin.loaders.count('members').load(row.id) }),
    projectCount: t.int({ resolve: (row, _args, ctx) => ctx.admin.loaders.count('projects').load(row.id) }),
    taskCount: t.int({ resolve: (row, _args, ctx) => ctx.admin.loaders.count('tasks').load(row.id) }),
    projects: t.field({
      type: ProjectConnection,
      args: { first: t.arg.int(), after: t.arg.string() },
      resolve: async (row, args, ctx) => {
        const page = pageFrom(args);
        const rows = await ctx.admin.loaders.projectPage(page).load(row.id);
        return toConnection(rows, page, () => ctx.admin.loaders.count('projects').load(row.id));
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
