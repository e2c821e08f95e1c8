import type { Context } from '../../context.js';
import type { Db } from '../../db/queries/rows.js';
import type { ReloadStatus } from '../../tenancy/registry.js';
import type { Isolation } from '../../tenancy/tenants-file.js';
import { RequestLoaders } from '../request-loaders.js';

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

/**
 * The admin host's database: the admin pool for every shared tenant, and a read-only
 * transaction in its own database for each dedicated one (SPEC §10), opened when first read.
 * Loaders on the admin host get this Db; `readAcrossTiers` splits a batch by it.
 */
export interface AdminDb extends Db {
  /** Where the tenant's rows are, as the tenants table records it. */
  isolationOf(tenantId: number): Isolation;
  /** The dedicated tenant's own database, with its RLS settings; ended with the request. */
  tenantDb(tenantId: number): Db;
}

export interface AdminContextDeps {
  readonly reloadStatus: () => ReloadStatus;
  readonly isolationOf: (tenantId: number) => Isolation;
  /** A read-only transaction of `tenantId`'s, in its own database. */
  readonly openTenantDb: (tenantId: number) => Context['db'];
}

export function toAdminContext(base: Context, deps: AdminContextDeps): AdminContext {
  const opened = new Map<number, Db>();
  const db: AdminDb = {
    query: (query) => base.db.query(query),
    isolationOf: deps.isolationOf,
    tenantDb(tenantId) {
      let tenantDb = opened.get(tenantId);
      if (!tenantDb) {
        const transaction = deps.openTenantDb(tenantId);
        base.db.adopt(transaction);
        tenantDb = transaction;
        opened.set(tenantId, tenantDb);
      }
      return tenantDb;
    },
  };
  return { ...base, loaders: new RequestLoaders(db), admin: { reloadStatus: deps.reloadStatus } };
}

/**
 * Runs `read` for a batch of tenants where their rows are: once on the admin pool for the
 * shared ones, and once per dedicated tenant in its own database; the rows of all, in no
 * particular order. On any other Db (a tenant host), `read` runs once, as it is.
 */
export async function readAcrossTiers<R>(
  db: Db,
  tenantIds: readonly number[],
  read: (db: Db, tenantIds: readonly number[]) => Promise<readonly R[]>,
): Promise<R[]> {
  if (!isAdminDb(db)) return [...(await read(db, tenantIds))];
  const shared = tenantIds.filter((id) => db.isolationOf(id) !== 'database');
  const dedicated = tenantIds.filter((id) => db.isolationOf(id) === 'database');
  const parts = await Promise.all([
    shared.length > 0 ? read(db, shared) : [],
    ...dedicated.map((id) => read(db.tenantDb(id), [id])),
  ]);
  return parts.flat();
}

function isAdminDb(db: Db): db is AdminDb {
  return typeof (db as Partial<AdminDb>).tenantDb === 'function';
}
