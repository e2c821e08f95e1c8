import type { ApiKeyScope } from '../../auth/roles.js';
import type { Db, Page } from './rows.js';

/** What the API may show about a key: never its hash. */
export interface ApiKeyRow {
  id: string;
  name: string;
  prefix: string;
  scope: ApiKeyScope;
  created_at: string;
  revoked_at: string | null;
}

const COLUMNS = 'id, name, prefix, scope, created_at, revoked_at';

export async function insertApiKey(
  db: Db,
  key: { tenantId: number; name: string; prefix: string; secretHash: Buffer; scope: ApiKeyScope },
): Promise<ApiKeyRow> {
  const [row] = await db.query<ApiKeyRow>({
    text: `INSERT INTO app.api_keys (tenant_id, name, prefix, secret_hash, scope, created_by)
           VALUES ($1, $2, $3, $4, $5, app.current_user_id()) RETURNING ${COLUMNS}`,
    values: [key.tenantId, key.name, key.prefix, key.secretHash, key.scope],
  });
  return row!;
}

/** Idempotent: revoking a revoked key keeps its first revocation time. Undefined if unknown. */
export async function revokeApiKey(db: Db, id: string): Promise<ApiKeyRow | undefined> {
  const [row] = await db.query<ApiKeyRow>({
    text: `UPDATE app.api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING ${COLUMNS}`,
    values: [id],
  });
  return row;
}

export function listApiKeys(db: Db, page: Page): Promise<ApiKeyRow[]> {
  return db.query<ApiKeyRow>({
    name: 'apiKeys.list',
    text: `SELECT ${COLUMNS} FROM app.api_keys WHERE id > coalesce($1::bigint, 0) ORDER BY id LIMIT $2`,
    values: [page.afterId, page.limit + 1],
  });
}

export async function countApiKeys(db: Db): Promise<number> {
  const [row] = await db.query<{ n: number }>({
    name: 'apiKeys.count',
    text: 'SELECT count(*)::int AS n FROM app.api_keys',
  });
  return row?.n ?? 0;
}

/** What authenticating with a key needs of its row. */
export interface LiveApiKey {
  id: string;
  secret_hash: Buffer;
  scope: ApiKeyScope;
}

/**
 * The live key with this prefix, if the session's tenant has one. Runs under RLS, so a key of
 * another tenant is simply not there: no tenant_id in the WHERE clause is needed or trusted.
 */
export async function findLiveApiKey(db: Db, prefix: string): Promise<LiveApiKey | undefined> {
  const [row] = await db.query<LiveApiKey>({
    name: 'apiKeys.findLive',
    text: 'SELECT id, secret_hash, scope FROM app.api_keys WHERE prefix = $1 AND revoked_at IS NULL',
    values: [prefix],
  });
  return row;
}

/** True while the key is not revoked; under RLS, so only a key of the session's tenant is found. */
export async function isApiKeyLive(db: Db, id: string): Promise<boolean> {
  const rows = await db.query({
    name: 'apiKeys.isLive',
    text: 'SELECT 1 FROM app.api_keys WHERE id = $1 AND revoked_at IS NULL',
    values: [id],
  });
  return rows.length > 0;
}
