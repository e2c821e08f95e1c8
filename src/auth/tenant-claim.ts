import type { TenantStrategy } from '../config.js';
import { type AppError, tenantMismatch, unauthenticated } from '../errors.js';
import type { TenantSet } from '../tenancy/tenant-set.js';
import { isRecord, parseTenantId, type Tenant } from '../tenancy/tenants-file.js';

/**
 * How a user token named its tenant when that name can change meaning on a reload: an external
 * id can move to another tenant, a subdomain can be renamed. A tenant id needs no note.
 */
export type TenantRef = { readonly externalId: string } | { readonly subdomain: string };

/** The tenant a user token names, before it is compared with the host's. */
export interface NamedTenant {
  readonly id: number;
  readonly ref?: TenantRef;
}

/**
 * The value of claim `name`. A name with dots is read as a path (`app_metadata.tenant_id`) only
 * when no top-level claim has that exact name (SPEC §6), so a URN or a URL-named claim
 * (`https://example.com/org.id`) is one key. Each step of a path must be a JSON object; own keys
 * only, so `constructor` or `__proto__` never reach Object.prototype.
 */
export function readClaim(claims: Readonly<Record<string, unknown>>, name: string): unknown {
  if (Object.hasOwn(claims, name)) return claims[name];
  if (!name.includes('.')) return undefined;
  let value: unknown = claims;
  for (const part of name.split('.')) {
    if (!isRecord(value) || !Object.hasOwn(value, part)) return undefined;
    value = value[part];
  }
  return value;
}

/**
 * The tenant a user token names under `strategy`, or undefined when it names none usable (a
 * missing or malformed claim, an unknown organisation: 401). Under `group` the token may name
 * several tenants; it acts only as the host's, so that one is returned when it is among them,
 * else another (the caller answers TENANT_MISMATCH). Groups never name virtual tenants.
 */
export function namedTenant(
  claims: Readonly<Record<string, unknown>>,
  strategy: TenantStrategy,
  host: Tenant,
  tenants: TenantSet,
): NamedTenant | undefined {
  if (strategy.kind === 'claim') {
    const value = readClaim(claims, strategy.claim);
    const id = parseTenantId(value);
    if (id !== undefined) return { id };
    // Looked up in the request's tenant set, never remembered: a reload that moves an external
    // id applies to the very next request, even one whose token verdict is cached.
    const tenant = typeof value === 'string' ? tenants.byExternalId(value) : undefined;
    return tenant && { id: tenant.id, ref: { externalId: value as string } };
  }
  const groups = readClaim(claims, strategy.groupsClaim);
  if (!Array.isArray(groups) || groups.length === 0) return undefined;
  if (!groups.every((group) => typeof group === 'string')) return undefined;
  let other: Tenant | undefined;
  for (const group of groups as string[]) {
    if (!group.startsWith(strategy.prefix)) continue;
    const tenant = tenants.bySubdomain(group.slice(strategy.prefix.length));
    if (!tenant || tenant.kind === 'virtual') continue;
    if (tenant.id === host.id) return { id: tenant.id, ref: { subdomain: tenant.subdomain } };
    other ??= tenant;
  }
  return other && { id: other.id, ref: { subdomain: other.subdomain } };
}

/**
 * Why a stream opened by a token that named `tenant` through `ref` may not go on under
 * `tenants`: the reload moved or removed the external id, or renamed the subdomain.
 */
export function tenantRefProblem(ref: TenantRef, tenant: Tenant, tenants: TenantSet): AppError | undefined {
  if ('subdomain' in ref) return ref.subdomain === tenant.subdomain ? undefined : tenantMismatch();
  if (tenant.externalIds.includes(ref.externalId)) return undefined;
  return tenants.byExternalId(ref.externalId)
    ? tenantMismatch()
    : unauthenticated('The token names no tenant of the tenants file.');
}

/**
 * What else names `subdomain`'s tenant in a user token under `strategy`, for the tokens tenantql
 * signs itself (`tenantql token`, GraphiQL's demo token), which carry the id in JWT_TENANT_CLAIM
 * too: under `group` its group, as one top-level key (readClaim finds that first); none under
 * `claim`.
 */
export function strategyClaims(strategy: TenantStrategy, subdomain: string): Record<string, unknown> {
  return strategy.kind === 'group' ? { [strategy.groupsClaim]: [`${strategy.prefix}${subdomain}`] } : {};
}
