import type { Principal } from './auth/principal.js';
import type { SessionRevoker } from './auth/session-revocations.js';
import type { EventBus } from './cache/events.js';
import type { FieldEncryption } from './crypto/field-encryption.js';
import type { RequestTransaction } from './db/request-transaction.js';
import type { RequestLoaders } from './graphql/request-loaders.js';
import type { Tenant } from './tenancy/tenants-file.js';

/**
 * What a resolver may touch: the tenant and principal decided before GraphQL ran, the
 * request's lazy transaction, and per-request loaders. No raw request or response.
 */
export interface Context {
  readonly requestId: string;
  readonly tenant: Tenant;
  readonly principal: Principal;
  readonly db: RequestTransaction;
  /** The request's DataLoaders: see `defineLoader`. */
  readonly loaders: RequestLoaders;
  /** Tenant events (subscriptions); publish from `db.afterCommit` so a rollback sends nothing. */
  readonly events: EventBus;
  /** revokeSessions: a subject's user tokens, revoked in the request's transaction. */
  readonly sessions: SessionRevoker;
  /** The tenant's field encryption (SPEC §12); a product's columns use it through `defineEncryptedColumn`. */
  readonly encryption: FieldEncryption;
}
