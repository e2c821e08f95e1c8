import type { Tenant as TenantConfig } from '../../tenancy/tenants-file.js';
import { builder } from '../builder.js';

const Tenant = builder.objectRef<TenantConfig>('Tenant').implement({
  description: 'The tenant this host serves.',
  fields: (t) => ({
    id: t.exposeInt('id'),
    subdomain: t.exposeString('subdomain'),
    name: t.exposeString('name'),
  }),
});

// Served from the tenants file: no database round trip.
builder.queryField('tenant', (t) => t.field({ type: Tenant, resolve: (_root, _args, ctx) => ctx.tenant }));
