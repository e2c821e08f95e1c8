import SchemaBuilder from '@pothos/core';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { unauthenticated } from '../../errors.js';
import { dateTimeScalar } from '../date-time.js';
import type { AdminContext } from './context.js';

/**
 * The system host's own builder, apart from the tenant one: no admin type or field can leak
 * into the tenant schema, and tenant types do not appear here. Read-only (no Mutation type).
 */
export const adminBuilder = new SchemaBuilder<{
  Context: AdminContext;
  AuthScopes: { systemUser: boolean };
  Scalars: { DateTime: { Input: Date; Output: Date | string } };
  DefaultFieldNullability: false;
}>({
  plugins: [ScopeAuthPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    // The auth plugin admits on this host only user tokens whose tenant claim is 1 (or no
    // credential at all); the tenant check is repeated here so the schema stands on its own.
    authScopes: (ctx) => ({ systemUser: ctx.principal.kind === 'USER' && ctx.tenant.kind === 'system' }),
    // Every field needs it, so an anonymous request can never get data: 401, not a partial 200.
    unauthorizedError: () => unauthenticated('Sign in with a token of the system tenant.'),
  },
});

adminBuilder.scalarType('DateTime', dateTimeScalar);

// Type-level scopes on a root type apply to every one of its fields.
adminBuilder.queryType({ authScopes: { systemUser: true } });
