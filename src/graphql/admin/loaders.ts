import DataLoader from 'dataloader';
import {
  type CountedTable,
  countByTenant,
  projectPagesByTenant,
  type TenantProjectRow,
} from '../../db/queries/admin.js';
import type { Db, Page } from '../../db/queries/rows.js';

export type { TenantProjectRow };

/**
 * Per-request loaders for the admin schema, so `tenants { memberCount projects { … } }` costs
 * one statement per field, not one per tenant. They die with the request.
 */
export class AdminLoaders {
  readonly #counts = new Map<CountedTable, DataLoader<number, number>>();
  readonly #projectPages = new Map<string, DataLoader<number, TenantProjectRow[]>>();

  constructor(private readonly db: Db) {}

  count(table: CountedTable): DataLoader<number, number> {
    let loader = this.#counts.get(table);
    if (!loader) {
      loader = new DataLoader(async (ids) => {
        const counts = new Map((await countByTenant(this.db, table, ids)).map((r) => [r.tenant_id, r.n]));
        return ids.map((id) => counts.get(id) ?? 0);
      });
      this.#counts.set(table, loader);
    }
    return loader;
  }

  projectPage(page: Page): DataLoader<number, TenantProjectRow[]> {
    const key = `${page.afterId}|${page.limit}`;
    let loader = this.#projectPages.get(key);
    if (!loader) {
      loader = new DataLoader(async (ids) => {
        const rows = await projectPagesByTenant(this.db, ids, page);
        return ids.map((id) => rows.filter((row) => row.tenant_id === id));
      });
      this.#projectPages.set(key, loader);
    }
    return loader;
  }
}
