import { type Role, rolesOf } from '../../auth/roles.js';
import type { Context } from '../../context.js';
import { builder } from '../builder.js';

export const ViewerKind = builder.enumType('ViewerKind', {
  values: ['USER', 'SERVICE', 'API_KEY', 'ANONYMOUS'] as const,
});

const RoleEnum = builder.enumType('Role', {
  description: 'Roles inside a tenant, weakest first: VIEWER reads; MEMBER also writes; ADMIN also manages.',
  values: {
    VIEWER: { value: 'viewer' },
    MEMBER: { value: 'member' },
    ADMIN: { value: 'admin' },
  } as const satisfies Record<string, { value: Role }>,
});

const Viewer = builder.objectRef<Context>('Viewer').implement({
  description: 'Who is calling.',
  fields: (t) => ({
    kind: t.field({ type: ViewerKind, resolve: (ctx) => ctx.principal.kind }),
    subject: t.string({
      nullable: true,
      resolve: (ctx) => (ctx.principal.kind === 'ANONYMOUS' ? null : ctx.principal.subject),
    }),
    roles: t.field({
      type: [RoleEnum],
      description:
        "The roles whose permissions this caller has, weaker ones included (an admin: VIEWER, MEMBER, ADMIN). A user's come from its token's roles claim; a READ API key is a VIEWER, a WRITE key and a service have every role's writes (not the credential management only admin users have); anonymous: none.",
      resolve: (ctx) => rolesOf(ctx.principal),
    }),
    tenantId: t.int({ resolve: (ctx) => ctx.tenant.id }),
    actorTenantId: t.int({
      nullable: true,
      resolve: (ctx) => (ctx.principal.kind === 'SERVICE' ? ctx.principal.actorTenantId : null),
    }),
  }),
});

builder.queryField('viewer', (t) => t.field({ type: Viewer, resolve: (_root, _args, ctx) => ctx }));
