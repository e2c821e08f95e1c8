import SchemaBuilder from '@pothos/core';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import type { Context } from '../context.js';
import { AppError, unauthenticated } from '../errors.js';
import AuditPlugin from './audit-plugin.js';
import { dateTimeScalar } from './date-time.js';

/**
 * The schema builder, with no types of its own (Pothos' app layout): each file under
 * types/ adds one type with its query and mutation fields, and index.ts imports them.
 */
export const builder = new SchemaBuilder<{
  Context: Context;
  AuthScopes: { authenticated: boolean; user: boolean };
  Scalars: { DateTime: { Input: Date; Output: Date | string } };
  DefaultFieldNullability: false;
}>({
  // Order matters: scope-auth wraps outside audit, so refused calls are never logged as done.
  plugins: [ScopeAuthPlugin, AuditPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    // Subscription fields are checked when the stream starts, not on each event: an anonymous
    // caller must not hold a tenant's event stream open at all.
    authorizeOnSubscribe: true,
    // Computed once per request; fields declare what they need.
    authScopes: (ctx) => ({
      authenticated: ctx.principal.kind !== 'ANONYMOUS',
      user: ctx.principal.kind === 'USER',
    }),
    // Anonymous: sign in. Signed in but lacking the scope (e.g. a service calling a user-only
    // field): FORBIDDEN.
    unauthorizedError: (_parent, ctx) =>
      ctx.principal.kind === 'ANONYMOUS'
        ? unauthenticated('Sign in to read this field.', 200)
        : new AppError('FORBIDDEN', 'Not allowed for this kind of credential.'),
  },
});

/** Fields that anonymous callers may not read. */
export const AUTHENTICATED = { authenticated: true } as const;

builder.scalarType('DateTime', dateTimeScalar);

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});
