import type { Context } from '../../context.js';
import { builder } from '../builder.js';

export const ViewerKind = builder.enumType('ViewerKind', {
  values: ['USER', 'SERVICE', 'API_KEY', 'ANONYMOUS'] as const,
});

const Viewer = builder.objectRef<Context>('Viewer').implement({
  description: 'Who is calling.',
  fields: (t) => ({
    kind: t.field({ type: ViewerKind, resolve: (ctx) => ctx.principal.kind }),
    subject: t.string({
      nullable: true,
      resolve: (ctx) => (ctx.principal.kind === 'ANONYMOUS' ? null : ctx.principal.subject),
    }),
    tenantId: t.int({ resolve: (ctx) => ctx.tenant.id }),
    actorTenantId: t.int({
      nullable: true,
      resolve: (ctx) => (ctx.principal.kind === 'SERVICE' ? ctx.principal.actorTenantId : null),
    }),
  }),
});

builder.queryField('viewer', (t) => t.field({ type: Viewer, resolve: (_root, _args, ctx) => ctx }));
