import type { Context } from '../../context.js';
import type { ReloadStatus } from '../../tenancy/registry.js';
import { AdminLoaders } from './loaders.js';

/**
 * The system host's context: the tenant context (whose `db` runs on the admin pool, BYPASSRLS)
 * plus what only the admin schema reads. A superset of Context, so the request pipeline's
 * plugins (transaction, logging, metrics) treat both hosts alike.
 */
export interface AdminContext extends Context {
  readonly admin: {
    readonly loaders: AdminLoaders;
    readonly reloadStatus: () => ReloadStatus;
  };
}

export function toAdminContext(base: Context, reloadStatus: () => ReloadStatus): AdminContext {
  return { ...base, admin: { loaders: new AdminLoaders(base.db), reloadStatus } };
}
