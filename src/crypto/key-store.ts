import { KEYS_TABLE } from '../db/keys-database.js';
import { createPool, type Pool } from '../db/pool.js';
import type { Logger } from '../observability/logger.js';
import type { WrappedKey } from './key-wrap.js';

/**
 * Where wrapped data keys live (SPEC §12): apart from tenant data, so neither an export nor a
 * backup of the data database carries them. The server needs only get and putIfAbsent;
 * rotation and purge need the rest. An external KMS implements the same five calls.
 */
export interface KeyStore {
  get(tenantId: number): Promise<WrappedKey | undefined>;
  /** Stores `wrapped` unless the tenant has a key; resolves the one stored (two servers racing agree). */
  putIfAbsent(tenantId: number, wrapped: WrappedKey): Promise<WrappedKey>;
  /** Compare-and-set for rotation: true if the stored key was `from` and is now `to`. */
  replace(tenantId: number, from: WrappedKey, to: WrappedKey): Promise<boolean>;
  /** Crypto-shredding: true if there was a key. */
  delete(tenantId: number): Promise<boolean>;
  /** Tenants in id order after `after` (default 0), `limit` at a time (default 500): for rotation. */
  list(after?: number, limit?: number): Promise<{ tenantId: number; key: WrappedKey }[]>;
}

interface Row {
  tenant_id: number;
  wrapped: Buffer;
  master_id: string;
}
const toKey = (row: Row): WrappedKey => ({ wrapped: row.wrapped, masterId: row.master_id });

/** Connections of the key store's pool: a key is read once per tenant per cache lifetime. */
export const KEY_STORE_POOL_MAX = 2;

/**
 * The key store's own small pool, apart from the request pool, to `url` (keysDatabaseUrl of
 * DATABASE_URL for the server, of DATABASE_OWNER_URL for rotation and purge).
 */
export function createKeyStorePool(options: {
  url: string;
  logger: Logger;
  /** PG_PREPARED_STATEMENTS. @default true */
  preparedStatements?: boolean;
}): Pool {
  return createPool({
    url: options.url,
    max: KEY_STORE_POOL_MAX,
    logger: options.logger,
    applicationName: 'tenantql keys',
    preparedStatements: options.preparedStatements ?? true,
  });
}

/**
 * The default key store: the table `keys.data_keys` in a database of its own, `<NAME>_keys`.
 * The runtime role may SELECT and INSERT there (first use makes a key); UPDATE and DELETE are
 * the owner's (rotation, purge), so a compromised server cannot destroy or swap keys.
 */
export class PostgresKeyStore implements KeyStore {
  constructor(private readonly pool: Pool) {}

  async get(tenantId: number): Promise<WrappedKey | undefined> {
    const { rows } = await this.pool.query<Row>(
      `SELECT tenant_id, wrapped, master_id FROM ${KEYS_TABLE} WHERE tenant_id = $1`,
      [tenantId],
    );
    return rows[0] && toKey(rows[0]);
  }

  async putIfAbsent(tenantId: number, wrapped: WrappedKey): Promise<WrappedKey> {
    await this.pool.query(
      `INSERT INTO ${KEYS_TABLE} (tenant_id, wrapped, master_id) VALUES ($1, $2, $3) ON CONFLICT (tenant_id) DO NOTHING`,
      [tenantId, wrapped.wrapped, wrapped.masterId],
    );
    const stored = await this.get(tenantId);
    if (!stored) throw new Error(`the key of tenant ${tenantId} was deleted while it was made`);
    return stored;
  }

  async replace(tenantId: number, from: WrappedKey, to: WrappedKey): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE ${KEYS_TABLE} SET wrapped = $3, master_id = $4, rotated_at = now()
        WHERE tenant_id = $1 AND wrapped = $2`,
      [tenantId, from.wrapped, to.wrapped, to.masterId],
    );
    return rowCount === 1;
  }

  async delete(tenantId: number): Promise<boolean> {
    const { rowCount } = await this.pool.query(`DELETE FROM ${KEYS_TABLE} WHERE tenant_id = $1`, [tenantId]);
    return rowCount === 1;
  }

  async list(after = 0, limit = 500): Promise<{ tenantId: number; key: WrappedKey }[]> {
    const { rows } = await this.pool.query<Row>(
      `SELECT tenant_id, wrapped, master_id FROM ${KEYS_TABLE} WHERE tenant_id > $1 ORDER BY tenant_id LIMIT $2`,
      [after, limit],
    );
    return rows.map((row) => ({ tenantId: row.tenant_id, key: toKey(row) }));
  }
}
