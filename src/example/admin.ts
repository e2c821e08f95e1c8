import DataLoader from 'dataloader';
import {
  adminBuilder,
  adminConnectionOf,
  defineLoaderFamily,
  encodeGlobalId,
  type Page,
  pageFrom,
  readAcrossTiers,
  TenantSummary,
  toConnection,
} from '../index.js';
import {
  type CountedTable,
  countByTenant,
  projectPagesByTenant,
  type TenantProjectRow,
} from './queries/admin.js';

// What the system host shows of the demo: each tenant's member, project and task counts and
// its projects. Loaders batch over tenants, so `tenants { memberCount projects { … } }` costs
// one statement per field for the shared tenants, plus one per dedicated tenant, read in its
// own database (readAcrossTiers).

const rowCount = defineLoaderFamily(
  (table: CountedTable) => table,
  (db, table) =>
    new DataLoader<number, number>(async (ids) => {
      const rows = await readAcrossTiers(db, ids, (tierDb, tierIds) => countByTenant(tierDb, table, tierIds));
      const counts = new Map(rows.map((r) => [r.tenant_id, r.n]));
      return ids.map((id) => counts.get(id) ?? 0);
    }),
);

const projectPage = defineLoaderFamily(
  (page: Page) => `${page.afterId}|${page.limit}`,
  (db, page) =>
    new DataLoader<number, TenantProjectRow[]>(async (ids) => {
      const rows = await readAcrossTiers(db, ids, (tierDb, tierIds) =>
        projectPagesByTenant(tierDb, tierIds, page),
      );
      return ids.map((id) => rows.filter((row) => row.tenant_id === id));
    }),
);

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

adminBuilder.objectFields(TenantSummary, (t) => ({
  memberCount: t.int({ resolve: (row, _args, ctx) => rowCount(ctx, 'members').load(row.id) }),
  projectCount: t.int({ resolve: (row, _args, ctx) => rowCount(ctx, 'projects').load(row.id) }),
  taskCount: t.int({ resolve: (row, _args, ctx) => rowCount(ctx, 'tasks').load(row.id) }),
  projects: t.field({
    type: ProjectConnection,
    args: { first: t.arg.int(), after: t.arg.string() },
    resolve: async (row, args, ctx) => {
      const page = pageFrom(args);
      const rows = await projectPage(ctx, page).load(row.id);
      return toConnection(rows, page, () => rowCount(ctx, 'projects').load(row.id));
    },
  }),
}));

/** The system host's schema with the demo's fields (schema/admin.graphql). */
export const demoAdminSchema = adminBuilder.toSchema();
