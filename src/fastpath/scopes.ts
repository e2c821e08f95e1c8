import type { GraphQLField, GraphQLNamedType } from 'graphql';

/**
 * scope-auth's checks, as far as the fast path takes them: a field's `authScopes` made only of
 * scope names set to `true`, under `$any` (the default) and `$all`. The request's scopes come
 * from the builder's own `scopeAuth.authScopes(ctx)`, so the two cannot drift. A request whose
 * scopes fail a rule takes the resolvers, which answer with scope-auth's own error; anything
 * scope-auth could do beyond this (functions, scope parameters, grants, type scopes) keeps the
 * field from being compiled at all.
 */
export type ScopeRule =
  | { readonly scope: string }
  | { readonly any: readonly ScopeRule[] }
  | { readonly all: readonly ScopeRule[] };

export type Scopes = Readonly<Record<string, unknown>>;

const FIELD_OPTIONS_OF_SCOPE_AUTH = [
  'grantScopes',
  'skipTypeScopes',
  'skipInterfaceScopes',
  'unauthorizedResolver',
  'unauthorizedError',
];
const TYPE_OPTIONS_OF_SCOPE_AUTH = ['authScopes', 'grantScopes', 'runScopesOnType', 'skipInterfaceScopes'];

/** The field's rule (undefined: none), or why the fast path cannot follow it. */
export function fieldScopes(
  field: GraphQLField<unknown, unknown>,
): { rule: ScopeRule | undefined } | { declined: string } {
  const options = (field.extensions?.pothosOptions ?? {}) as Record<string, unknown>;
  const other = FIELD_OPTIONS_OF_SCOPE_AUTH.find((key) => options[key] !== undefined);
  if (other) return { declined: `${field.name} has ${other}` };
  if (options.authScopes === undefined) {
    // scope-auth wraps only fields with scopes: another plugin's wrapper may do anything.
    if (field.extensions?.pothosResolveWrapped) return { declined: `a plugin wraps ${field.name}` };
    return { rule: undefined };
  }
  const rule = ruleOf(options.authScopes, 'any');
  return rule ? { rule } : { declined: `${field.name} has authScopes the fast path does not evaluate` };
}

/** Why `type` (or an interface it implements) has scopes of its own, if it has. */
export function typeScopesDeclined(type: GraphQLNamedType): string | undefined {
  const types = 'getInterfaces' in type ? [type, ...type.getInterfaces()] : [type];
  for (const t of types) {
    const options = (t.extensions?.pothosOptions ?? {}) as Record<string, unknown>;
    const key = TYPE_OPTIONS_OF_SCOPE_AUTH.find((k) => options[k] !== undefined);
    if (key) return `type ${t.name} has ${key}`;
  }
  return undefined;
}

function ruleOf(value: unknown, mode: 'any' | 'all'): ScopeRule | undefined {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const rules: ScopeRule[] = [];
  for (const [key, v] of Object.entries(value)) {
    if (key === '$any' || key === '$all') {
      const nested = ruleOf(v, key === '$any' ? 'any' : 'all');
      if (!nested) return undefined;
      rules.push(nested);
    } else if (v === true && !key.startsWith('$')) {
      rules.push({ scope: key });
    } else {
      return undefined;
    }
  }
  return mode === 'any' ? { any: rules } : { all: rules };
}

export function passes(rule: ScopeRule, scopes: Scopes): boolean {
  if ('scope' in rule) return scopes[rule.scope] === true;
  if ('any' in rule) return rule.any.some((r) => passes(r, scopes));
  return rule.all.every((r) => passes(r, scopes));
}
