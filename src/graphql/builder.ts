import SchemaBuilder from '@pothos/core';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import type { Context } from '../context.js';
import { unauthenticated } from '../errors.js';

/**
 * The schema builder, with no types of its own (Pothos' app layout): each file under
 * types/ adds one type with its query and mutation fields, and index.ts imports them.
 */
export const builder = new SchemaBuilder<{
  Context: Context;
  AuthScopes: { authenticated: boolean };
  Scalars: { DateTime: { Input: Date; Output: Date } };
  DefaultFieldNullability: false;
}>({
  plugins: [ScopeAuthPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    // Computed once per request; fields declare what they need.
    authScopes: (ctx) => ({ authenticated: ctx.principal.kind !== 'ANONYMOUS' }),
    unauthorizedError: () => unauthenticated('Sign in to read this field.', 200),
  },
});

/** Fields that anonymous callers may not read. */
export const AUTHENTICATED = { authenticated: true } as const;

builder.scalarType('DateTime', {
  description: 'An ISO-8601 timestamp in UTC.',
  serialize: (value) => value.toISOString(),
  parseValue: (value) => {
    const date = new Date(String(value));
    if (Number.isNaN(date.getTime())) throw new TypeError('DateTime must be an ISO-8601 string');
    return date;
  },
});

builder.queryType({});
builder.mutationType({});
