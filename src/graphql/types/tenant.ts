import type { Context } from '../../context.js';
import type { Tenant as TenantConfig } from '../../tenancy/tenants-file.js';
import { builder } from '../builder.js';
import { tableField } from '../table-fields.js';

const Tenant = builder.objectRef<TenantConfig>('Tenant').implement({
  description: 'The tenant this host serves.',
  fields: (t) => ({
    id: t.exposeInt('id'),
    subdomain: t.exposeString('subdomain'),
    name: t.exposeString('name'),
  }),
});

// Served from the tenants file: no database round trip (and none on the fast path either).
const tenantOf = (ctx: Context) => ctx.tenant;
builder.queryField('tenant', (t) =>
  t.field({
    type: Tenant,
    resolve: (_root, _args, ctx) => tenantOf(ctx),
    extensions: tableField({ fromContext: tenantOf }),
  }),
);
