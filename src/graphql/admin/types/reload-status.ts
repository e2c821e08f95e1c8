import type { ReloadStatus as Status } from '../../../tenancy/registry.js';
import { adminBuilder } from '../builder.js';

const ReloadStatus = adminBuilder.objectRef<Status>('ReloadStatus').implement({
  description: 'The outcome of the last load or reload (SIGHUP) of the tenants file.',
  fields: (t) => ({
    at: t.field({ type: 'DateTime', resolve: (s) => s.at }),
    ok: t.exposeBoolean('ok'),
    tenantCount: t.exposeInt('tenantCount', { description: 'Tenants served now.' }),
    problems: t.stringList({
      description: 'Each names its JSON path, e.g. `tenants[3].subdomain: duplicate "tenant1"`.',
      resolve: (s) => [...s.problems],
    }),
  }),
});

// From the registry in memory: no database round trip.
adminBuilder.queryField('reloadStatus', (t) =>
  t.field({ type: ReloadStatus, resolve: (_root, _args, ctx) => ctx.admin.reloadStatus() }),
);
