import type { Plugin } from 'graphql-yoga';
import { AppError, errorResponse, unauthenticated } from '../errors.js';
import { stateOf } from '../request-state.js';
import { type ApiKeyLookup, principalFromApiKey } from './api-key-principal.js';
import { ANONYMOUS, principalFromBearer } from './principal.js';
import type { TokenVerifier } from './verify.js';

export interface AuthenticationOptions {
  verifier: TokenVerifier;
  tenantClaim: string;
  /** Finds an API key inside the host tenant's RLS scope. */
  apiKeys: ApiKeyLookup;
}

/**
 * Decides the principal once, after the tenant is known and before GraphQL runs. A bad
 * credential ends the request with 401/403; no credential means ANONYMOUS.
 * Schemes: `Bearer <jwt>` (user or service token) and `ApiKey <key>`, case-insensitive.
 */
export function useAuthentication(options: AuthenticationOptions): Plugin {
  return {
    async onRequest({ request, endResponse }) {
      const state = stateOf(request);
      if (!state.tenant || !state.tenants) return; // not a GraphQL request
      const header = request.headers.get('authorization');
      try {
        if (header === null || header.trim() === '') {
          state.principal = ANONYMOUS;
          return;
        }
        const [scheme, credential, extra] = header.trim().split(/\s+/);
        if (!credential || extra !== undefined) throw unauthenticated('Malformed Authorization header.');
        switch (scheme?.toLowerCase()) {
          case 'bearer':
            state.principal = await principalFromBearer(credential, {
              tenant: state.tenant,
              tenants: state.tenants,
              verifier: options.verifier,
              tenantClaim: options.tenantClaim,
            });
            return;
          case 'apikey':
            state.principal = await principalFromApiKey(credential, state.tenant, options.apiKeys);
            return;
          default:
            throw unauthenticated('Unsupported Authorization scheme.');
        }
      } catch (error) {
        if (error instanceof AppError) return endResponse(errorResponse(error));
        throw error;
      }
    },
  };
}
