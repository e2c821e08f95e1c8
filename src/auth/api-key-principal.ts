import { findLiveApiKey, type LiveApiKey } from '../db/queries/api-keys.js';
import { readAsTenant } from '../db/request-transaction.js';
import type { TransactionRoute } from '../db/router.js';
import { unauthenticated } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { Tenant } from '../tenancy/tenants-file.js';
import { parseApiKey, secretMatches } from './api-key.js';
import type { Principal } from './principal.js';

/** Finds the live key with `prefix` among `tenant`'s keys only. */
export type ApiKeyLookup = (tenant: Tenant, prefix: string) => Promise<LiveApiKey | undefined>;

export interface ApiKeyLookupOptions {
  /** Where the tenant's transactions run (db/router.ts): keys live with the tenant's rows. */
  route: (tenant: Tenant) => TransactionRoute;
  logger: Logger;
  onQuery?: (() => void) | undefined;
}

/**
 * The lookup runs in its own short transaction, read-only, where the tenant's rows live, with the host tenant's
 * settings, so RLS decides what exists: another tenant's key is not found, exactly like a key
 * that was never issued. No SECURITY DEFINER function, no tenant_id in the query to get wrong.
 * It is a separate transaction (one more BEGIN/SELECT/COMMIT per request that presents a key)
 * because the request's own transaction records the principal it is about to decide.
 */
export function createApiKeyLookup(options: ApiKeyLookupOptions): ApiKeyLookup {
  return (tenant, prefix) =>
    readAsTenant(
      options.route(tenant),
      tenant,
      options.logger,
      (db) => findLiveApiKey(db, prefix),
      options.onQuery,
    );
}

/**
 * `Authorization: ApiKey <key>` on a regular tenant's host. Every failure (malformed, unknown,
 * revoked, another tenant's, wrong secret) is the same 401, so none tells the caller more.
 * System and virtual hosts take only tokens (SPEC §6), so a key there is refused unread.
 */
export async function principalFromApiKey(
  presented: string,
  tenant: Tenant,
  lookup: ApiKeyLookup,
): Promise<Principal> {
  const invalid = () => unauthenticated('The API key is invalid or revoked.');
  if (tenant.kind !== 'regular') throw unauthenticated('This host does not accept API keys.');
  const parsed = parseApiKey(presented);
  if (!parsed) throw invalid();
  const row = await lookup(tenant, parsed.prefix);
  if (!secretMatches(parsed.secretHash, row?.secret_hash)) throw invalid();
  return { kind: 'API_KEY', subject: `apikey:${row!.id}`, apiKeyId: row!.id, scope: row!.scope };
}
