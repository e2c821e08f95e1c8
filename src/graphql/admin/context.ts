import type { Context } from '../../context.js';
import type { ReloadStatus } from '../../tenancy/registry.js';

/**
 * The system host's context: the tenant context (whose `db` runs on the admin pool, BYPASSRLS,
 * and whose `loaders` batch on it) plus what only the admin schema reads. A superset of
 * Context, so the request pipeline's plugins (transaction, logging, metrics) treat both hosts
 * alike.
 */
export interface AdminContext extends Context {
  readonly admin: {
    readonly reloadStatus: () => ReloadStatus;
  };
}

export function toAdminContext(base: Context, reloadStatus: () => ReloadStatus): AdminContext {
  return { ...base, admin: { reloadStatus } };
}
