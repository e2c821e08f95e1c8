import type { IncomingMessage } from 'node:http';
import type { Plugin } from 'graphql-yoga';
import { type ApiKeyLookup, principalFromApiKey } from '../../auth/api-key-principal.js';
import { ANONYMOUS, type BearerContext, principalFromBearer } from '../../auth/principal.js';
import type { TokenVerifier } from '../../auth/verify.js';
import type { Bucket, RateLimiter } from '../../cache/rate-limit.js';
import type { TenantStrategy } from '../../config.js';
import { AppError, type ErrorCode, errorResponse, rateLimited, unauthenticated } from '../../errors.js';
import type { RateLimit } from '../../tenancy/tenants-file.js';
import { stateOf } from '../state.js';

export interface AuthenticationOptions {
  verifier: TokenVerifier;
  /** JWT_TENANT_CLAIM: a service token's tenant claim. */
  tenantClaim: string;
  /** JWT_TENANT_FROM and its claims: where a user token's tenant comes from. */
  tenantStrategy: TenantStrategy;
  /** JWT_ROLES_CLAIM: where a user token names its roles. */
  rolesClaim: string;
  /** revokeSessions' verdict on a user token (auth/session-revocations.ts). */
  isRevoked: BearerContext['isRevoked'];
  /** Finds an API key inside the host tenant's RLS scope. */
  apiKeys: ApiKeyLookup;
  /** Limits failed credentials per client address and tenant; unset: no such limit. */
  failures?: {
    limiter: RateLimiter;
    limit: RateLimit;
    /** The client address of a request (tenancy/request-host.ts clientAddress). */
    clientOf: (request: Request, req: IncomingMessage | undefined) => string;
    onRejected?: () => void;
  };
}

const CREDENTIAL_FAILURES = new Set<ErrorCode>(['UNAUTHENTICATED', 'FORBIDDEN', 'TENANT_MISMATCH']);

const tooManyFailures = (retryAfterSeconds: number) =>
  rateLimited(retryAfterSeconds, 'Too many failed credentials from this address; retry later.');

/**
 * Decides the principal once, after the tenant is known and before GraphQL runs. A bad
 * credential ends the request with 401/403; no credential means ANONYMOUS.
 * Schemes: `Bearer <jwt>` (user or service token) and `ApiKey <key>`, case-insensitive.
 *
 * Failed credentials are counted per client address and tenant (AUTH_FAILURE_LIMIT), never
 * against the tenant's own budget: past the limit that client's credentials get 429 without
 * being checked (a flood of made-up API keys costs no database lookups), for the rest of the
 * window, on every instance that has seen it fail once more.
 */
export function useAuthentication(options: AuthenticationOptions): Plugin {
  const { failures } = options;
  return {
    async onRequest({ request, serverContext, endResponse }) {
      const state = stateOf(request);
      if (!state.tenant || !state.tenants) return; // not a GraphQL request
      const header = request.headers.get('authorization');
      if (header === null || header.trim() === '') {
        state.principal = ANONYMOUS;
        return;
      }
      const req = (serverContext as { req?: IncomingMessage } | undefined)?.req;
      const counted = failures && {
        ...failures,
        bucket: {
          kind: 'auth-failures',
          tenantId: state.tenant.id,
          client: failures.clientOf(request, req),
        } satisfies Bucket,
      };
      const refused = counted?.limiter.refusing(counted.bucket, counted.limit);
      if (refused && !refused.allowed) {
        counted?.onRejected?.();
        return endResponse(errorResponse(tooManyFailures(refused.retryAfterSeconds)));
      }
      try {
        const [scheme, credential, extra] = header.trim().split(/\s+/);
        if (!credential || extra !== undefined) throw unauthenticated('Malformed Authorization header.');
        switch (scheme?.toLowerCase()) {
          case 'bearer':
            state.principal = await principalFromBearer(credential, {
              tenant: state.tenant,
              tenants: state.tenants,
              verifier: options.verifier,
              tenantClaim: options.tenantClaim,
              tenantStrategy: options.tenantStrategy,
              rolesClaim: options.rolesClaim,
              isRevoked: options.isRevoked,
            });
            return;
          case 'apikey':
            state.principal = await principalFromApiKey(credential, state.tenant, options.apiKeys);
            return;
          default:
            throw unauthenticated('Unsupported Authorization scheme.');
        }
      } catch (error) {
        if (!(error instanceof AppError)) throw error;
        // Only the credential's own failures count: a lookup shed for load (OVERLOADED) is not one.
        if (counted && CREDENTIAL_FAILURES.has(error.code)) {
          const decision = await counted.limiter.consume(counted.bucket, counted.limit);
          if (!decision.allowed) {
            counted.onRejected?.();
            return endResponse(errorResponse(tooManyFailures(decision.retryAfterSeconds)));
          }
        }
        return endResponse(errorResponse(error));
      }
    },
  };
}
