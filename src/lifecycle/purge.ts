import { createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import pg from 'pg';
import { purgeTenantKeys, type TenantKeysPurge } from '../cache/tenant-keys.js';
import type { Config } from '../config.js';
import { createKeyStorePool, PostgresKeyStore } from '../crypto/key-store.js';
import { keysDatabaseOf } from '../db/keys-database.js';
import { recordLifecycleEvent } from '../db/lifecycle-events.js';
import { connectionUrl } from '../db/setup.js';
import { silentLogger } from '../observability/logger.js';
import { type Tenant, tenantKind } from '../tenancy/tenants-file.js';
import { dropDedicatedDatabase } from '../tiers/drop.js';
import { dedicatedNames } from '../tiers/names.js';
import { lockTenantCommands, requireSuperuser } from '../tiers/provision.js';
import { readSecretsFile } from '../tiers/secrets-file.js';
import { exportTenant } from './export.js';
import { countTenantRows, deleteTenantRows } from './tables.js';

export interface PurgeOptions {
  /** DATABASE_SUPERUSER_URL: deletes rows under every policy, drops a tenant database and roles. */
  superuserUrl: string;
  mainDatabase: string;
  tenantId: number;
  /** The tenant's subdomain, typed by the operator (`--confirm`). */
  confirm: string;
  /** The tenant as the tenants file has it now; undefined when the file no longer names it. */
  inFile: Tenant | undefined;
  /** `--export FILE`: an export first; if it fails, nothing is deleted. */
  exportTo?: string | undefined;
  /** TENANT_SECRETS_FILE (a dedicated tenant's credentials go). */
  secretsFile: string;
  valkey: Pick<Config, 'valkeyUrl' | 'valkeyClusterNodes'>;
}

export interface PurgeReport {
  tenant: number;
  subdomain: string;
  /** Per tenant table, the tenant's rows before and (a fresh count) after, in every database it had rows in. */
  rows: Record<string, { before: number; after: number }>;
  /** A tenant with a database of its own: the database, dropped, and whether it is gone now. */
  database?: { name: string; dropped: boolean; exists: boolean };
  /** `{t<ID>}:` keys before, deleted, after (a fresh SCAN); null when Valkey did not answer. */
  keys: TenantKeysPurge['keys'] | null;
  aclUser: TenantKeysPurge['aclUser'] | 'not checked';
  /**
   * The tenant's data key (SPEC §12): `destroyed` now, `none` if the key store had none (never
   * used, or an earlier run destroyed it), null when the key store did not answer.
   */
  dataKey: 'destroyed' | 'none' | null;
  exportedTo?: string;
  purgedAt: string;
  /** True only when the fresh counts found nothing of the tenant: no row, no database, no key, no user. */
  complete: boolean;
  /** Why it is not complete (Valkey unreachable, …); the command can be run again. */
  problems: string[];
}

/** A refusal the operator can act on (one line, exit 1); nothing was deleted. */
export class PurgeRefused extends Error {}

/**
 * `tenantql tenants purge ID --confirm SUBDOMAIN [--export FILE]` (SPEC §11): an erasure with
 * a report. Only for a regular tenant the tenants file no longer serves (removed, or
 * disabled). Deletes its rows in every tenant table of the main database (from the catalog),
 * its database and roles if it has one, every `{t<ID>}:` key and its ACL user; then counts
 * again, from scratch, and says whether anything is left. The tenants row stays, marked
 * `purged_at`, so the id is never silently given to someone else; app.lifecycle_events keeps
 * the record. Run again, a purge finds nothing and says so (it is how to finish one that
 * could not reach Valkey).
 */
export async function purgeTenant(options: PurgeOptions): Promise<PurgeReport> {
  const { tenantId } = options;
  const kind = tenantKind(tenantId);
  if (kind === 'system')
    throw new PurgeRefused(`tenant ${tenantId} is the system tenant; it is never purged`);
  if (kind === 'virtual') {
    throw new PurgeRefused(
      `tenant ${tenantId} is a virtual tenant (ids 80–99): its registry row is not purged`,
    );
  }
  const mainUrl = connectionUrl(options.superuserUrl, options.mainDatabase);
  const main = new pg.Client({ connectionString: mainUrl, application_name: 'tenantql tenants purge' });
  await main.connect();
  try {
    await requireSuperuser(main);
    await lockTenantCommands(main, tenantId);
    const { rows } = await main.query<{ subdomain: string; purged_at: Date | null; served: boolean }>(
      'SELECT subdomain, purged_at, NOT disabled AND removed_at IS NULL AS served FROM app.tenants WHERE id = $1',
      [tenantId],
    );
    const row = rows[0];
    if (!row) throw new PurgeRefused(`no tenant ${tenantId} in the tenants table`);
    if (options.inFile && !options.inFile.disabled) {
      throw new PurgeRefused(
        `tenant ${tenantId} (${row.subdomain}) is served: remove it from the tenants file or set "disabled": true, reload, then purge`,
      );
    }
    if (row.served && !row.purged_at) {
      // The file says so, but no server has reloaded it yet (a reload syncs the tenants table):
      // one still serving the tenant could write rows after the count.
      throw new PurgeRefused(
        `tenant ${tenantId} (${row.subdomain}) is still served by the tenants table: reload the servers (kill -HUP), then purge`,
      );
    }
    if (options.confirm !== row.subdomain) {
      throw new PurgeRefused(
        `--confirm must be the tenant's subdomain, ${row.subdomain}; nothing was deleted`,
      );
    }
    if (options.exportTo && row.purged_at) {
      throw new PurgeRefused(
        `tenant ${tenantId} was purged at ${row.purged_at.toISOString()}; there is nothing to export`,
      );
    }

    let exportedTo: string | undefined;
    if (options.exportTo) {
      const out = createWriteStream(options.exportTo, { mode: 0o600 });
      await exportTenant({ ownerUrl: mainUrl, tenantId, out });
      out.end();
      await finished(out);
      exportedTo = options.exportTo;
    }

    // The tombstone before anything is deleted: a purge killed midway must not leave an id
    // that looks free (no rows, no counters) and could be given out again.
    const { rows: marked } = await main.query<{ purged_at: Date }>(
      'UPDATE app.tenants SET purged_at = coalesce(purged_at, now()), updated_at = now() WHERE id = $1 RETURNING purged_at',
      [tenantId],
    );
    // Crypto-shredding first (SPEC §12): from here on no backup of the tenant's rows, taken
    // before or during the purge, decrypts; what follows deletes the ciphertexts themselves.
    const problems: string[] = [];
    const keysUrl = connectionUrl(options.superuserUrl, keysDatabaseOf(options.mainDatabase));
    const keys = await destroyDataKey(keysUrl, tenantId).catch((error: Error) => {
      problems.push(
        `key store ${keysDatabaseOf(options.mainDatabase)}: ${error.message}; run the purge again`,
      );
      return undefined;
    });
    const names = dedicatedNames(options.mainDatabase, tenantId);
    const dedicated = await databaseExists(main, names.database);
    const before = await countTenantRows(main, tenantId);
    let database: PurgeReport['database'];
    if (dedicated) {
      const own = new pg.Client({ connectionString: connectionUrl(options.superuserUrl, names.database) });
      await own.connect();
      try {
        for (const [table, n] of Object.entries(await countTenantRows(own, tenantId))) {
          before[`${names.database}: ${table}`] = n;
        }
        await deleteTenantRows(own, tenantId);
      } finally {
        await own.end();
      }
    }
    await deleteTenantRows(main, tenantId);
    if (dedicated) {
      const dropped = await dropDedicatedDatabase(main, options.mainDatabase, tenantId, options.secretsFile);
      database = { name: names.database, dropped, exists: await databaseExists(main, names.database) };
    }

    let valkey: TenantKeysPurge | undefined;
    try {
      valkey = await purgeTenantKeys(options.valkey, tenantId);
    } catch (error) {
      problems.push(
        `${(error as Error).message}; its keys and ACL user were not checked: run the purge again`,
      );
    }

    // The fresh count: every tenant table of the main database again, and the database gone.
    const after = await countTenantRows(main, tenantId);
    const report: PurgeReport = {
      tenant: tenantId,
      subdomain: row.subdomain,
      rows: Object.fromEntries(
        [...new Set([...Object.keys(before), ...Object.keys(after)])]
          .sort()
          .map((table) => [table, { before: before[table] ?? 0, after: after[table] ?? 0 }]),
      ),
      ...(database ? { database } : {}),
      keys: valkey?.keys ?? null,
      aclUser: valkey?.aclUser ?? 'not checked',
      dataKey: keys ? (keys.destroyed ? 'destroyed' : 'none') : null,
      ...(exportedTo ? { exportedTo } : {}),
      purgedAt: marked[0]!.purged_at.toISOString(),
      complete: false,
      problems,
    };
    for (const [table, { after: left }] of Object.entries(report.rows)) {
      if (left > 0) problems.push(`${left} rows left in ${table}`);
    }
    if (database?.exists) problems.push(`database ${database.name} still exists`);
    const { rows: roles } = await main.query<{ rolname: string }>(
      'SELECT rolname FROM pg_roles WHERE rolname = ANY($1) ORDER BY 1',
      [[names.rw, names.ro, names.owner, names.app, names.admin, names.connect]],
    );
    if (roles.length > 0) problems.push(`roles left: ${roles.map((r) => r.rolname).join(', ')}`);
    const secrets = await readSecretsFile(options.secretsFile);
    if (!secrets.ok || secrets.secrets.has(tenantId)) {
      problems.push(
        `${options.secretsFile} still holds credentials of tenant ${tenantId}, or cannot be read`,
      );
    }
    if (keys?.left) problems.push(`the data key of tenant ${tenantId} is still in the key store`);
    if (valkey && valkey.keys.after > 0) problems.push(`${valkey.keys.after} {t${tenantId}}: keys left`);
    report.complete = problems.length === 0;
    await recordLifecycleEvent(main, tenantId, 'purge', {
      rows: Object.values(report.rows).reduce((sum, r) => sum + r.before, 0),
      database: database?.name ?? null,
      keys: report.keys?.deleted ?? null,
      aclUser: report.aclUser,
      dataKey: report.dataKey,
      exported: Boolean(exportedTo),
      complete: report.complete,
    });
    return report;
  } finally {
    await main.end();
  }
}

/** Deletes the wrapped data key, then looks again on a connection of its own. */
async function destroyDataKey(
  keysUrl: string,
  tenantId: number,
): Promise<{ destroyed: boolean; left: boolean }> {
  const connect = () => {
    const pool = createKeyStorePool({ url: keysUrl, logger: silentLogger });
    return { pool, store: new PostgresKeyStore(pool) };
  };
  const first = connect();
  let destroyed: boolean;
  try {
    destroyed = await first.store.delete(tenantId);
  } finally {
    await first.pool.end();
  }
  const fresh = connect();
  try {
    return { destroyed, left: (await fresh.store.get(tenantId)) !== undefined };
  } finally {
    await fresh.pool.end();
  }
}

async function databaseExists(client: pg.Client, name: string): Promise<boolean> {
  const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  return rowCount === 1;
}
