import SchemaBuilder from '@pothos/core';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { type Permissions, permissionsOf } from '../auth/roles.js';
import type { Context } from '../context.js';
import { forbidden, unauthenticated } from '../errors.js';
import AuditPlugin from './audit-plugin.js';
import { dateTimeScalar } from './date-time.js';

/**
 * The schema builder, with no types of its own (Pothos' app layout): each file under
 * types/ adds one type with its query and mutation fields, and index.ts imports them.
 */
export const builder = new SchemaBuilder<{
  Context: Context;
  AuthScopes: { [scope in keyof Permissions]: boolean };
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
    // Computed once per request from the principal alone (auth/roles.ts has the table); fields
    // declare what they need, resolvers never check.
    authScopes: (ctx) => permissionsOf(ctx.principal),
    // Anonymous: sign in. Signed in but lacking the scope (a viewer's or a READ key's write, a
    // service or key managing credentials): 403 FORBIDDEN. The resolver never ran, and the
    // request's transaction rolls back on any error, so nothing is written.
    unauthorizedError: (_parent, ctx) =>
      ctx.principal.kind === 'ANONYMOUS'
        ? unauthenticated('Sign in to read this field.', 200)
        : forbidden('Not allowed with this role, API key scope or kind of credential.'),
  },
});

/** Fields that anonymous callers may not read: every signed-in caller may (the `viewer` role and up). */
export const AUTHENTICATED = { authenticated: true } as const;
/** Writes of the `member` role and up (projects and tasks in the demo); also WRITE keys and services. */
export const MEMBER = { member: true } as const;
/** Writes of the `admin` role (members in the demo); also WRITE keys and services. */
export const ADMIN = { admin: true } as const;
/**
 * What only a person who is the tenant's admin may do: credentials (API keys, revokeSessions).
 * A service or a key cannot mint or revoke credentials that outlive its own grant.
 */
export const ADMIN_USER = { $all: { user: true, admin: true } } as const;

builder.scalarType('DateTime', dateTimeScalar);

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});
