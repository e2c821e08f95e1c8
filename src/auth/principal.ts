import type { TenantStrategy } from '../config.js';
import { forbidden, tenantMismatch, unauthenticated } from '../errors.js';
import type { TenantSet } from '../tenancy/tenant-set.js';
import { parseTenantId, type Tenant, tenantKind } from '../tenancy/tenants-file.js';
import { type ApiKeyScope, type Role, roleFromClaims } from './role-claim.js';
import { namedTenant, readClaim, type TenantRef } from './tenant-claim.js';
import type { TokenVerifier } from './verify.js';

/**
 * Who is calling, decided once per request before GraphQL runs. `expiresAt` is the token's `exp`
 * (seconds since the epoch): a subscription stream it opened ends then (auth/stream-credentials.ts).
 * A user's `tenantRef` says how the token named the tenant when not by id, so that a stream ends
 * when a reload takes that name away; `role` is what it may do in the tenant (auth/roles.ts), and
 * `issuedAt` its `iat`, if it has one (a revocation covers tokens issued up to its moment).
 * An API key's `scope` is fixed at its creation.
 */
export type Principal =
  | { readonly kind: 'ANONYMOUS' }
  | {
      readonly kind: 'USER';
      readonly subject: string;
      readonly role: Role;
      readonly expiresAt: number;
      readonly issuedAt?: number;
      readonly tenantRef?: TenantRef;
    }
  | {
      readonly kind: 'SERVICE';
      readonly subject: string;
      readonly actorTenantId: number;
      readonly expiresAt: number;
    }
  | {
      readonly kind: 'API_KEY';
      readonly subject: string;
      readonly apiKeyId: string;
      readonly scope: ApiKeyScope;
    };

export const ANONYMOUS: Principal = Object.freeze({ kind: 'ANONYMOUS' });

/**
 * A subject becomes `app.user_id` and audit rows: a NUL breaks every statement of the request,
 * and a lone surrogate would be stored as U+FFFD, so two different subjects could become one.
 * Control characters have no place in an identifier either.
 */
const UNUSABLE_IN_SUBJECT = /[\p{Cc}\p{Cs}]/u;

export function isUsableSubject(subject: string): boolean {
  return subject !== '' && !UNUSABLE_IN_SUBJECT.test(subject);
}

export interface BearerContext {
  tenant: Tenant;
  tenants: TenantSet;
  verifier: TokenVerifier;
  /** JWT_TENANT_CLAIM: where a service token names its virtual tenant's id. */
  tenantClaim: string;
  /** Where a user token names its tenant. */
  tenantStrategy: TenantStrategy;
  /** JWT_ROLES_CLAIM: where a user token names its roles. */
  rolesClaim: string;
  /** Whether revokeSessions revoked a user token (auth/session-revocations.ts); sync when it knows. */
  isRevoked: (tenant: Tenant, subject: string, issuedAt: number | undefined) => boolean | Promise<boolean>;
}

/**
 * Turns a Bearer token into a principal for `tenant`, or throws the AppError the request
 * ends with: 401 for anything unverifiable, 403 for a valid token used on the wrong host.
 */
export async function principalFromBearer(token: string, ctx: BearerContext): Promise<Principal> {
  let verified: Awaited<ReturnType<TokenVerifier['verify']>>;
  try {
    verified = await ctx.verifier.verify(token);
  } catch {
    throw unauthenticated('The token is invalid or expired.');
  }
  const { claims } = verified;
  const subject = typeof claims.sub === 'string' && isUsableSubject(claims.sub) ? claims.sub : undefined;
  const expiresAt = claims.exp as number; // the verifier requires a numeric exp

  if (verified.kind === 'user') {
    const named = namedTenant(claims, ctx.tenantStrategy, ctx.tenant, ctx.tenants);
    if (!subject || !named) throw unauthenticated('The token lacks a usable subject or tenant.');
    // User tokens act only for regular tenants and the system tenant, never as a peer server:
    // the id range decides, so an unconfigured virtual id is refused the same way.
    if (tenantKind(named.id) === 'virtual')
      throw unauthenticated('A user token cannot act for a virtual tenant.');
    if (ctx.tenant.kind === 'virtual') throw forbidden('This host accepts only its own service tokens.');
    if (named.id !== ctx.tenant.id) throw tenantMismatch();
    const issuedAt = typeof claims.iat === 'number' ? claims.iat : undefined;
    // Checked on every request, cached verdict or not (auth/verified-tokens.ts remembers only
    // the signature's): a revocation applies to the very next request with the same bytes.
    const revoked = ctx.isRevoked(ctx.tenant, subject, issuedAt);
    if (revoked === true || (revoked !== false && (await revoked)))
      throw unauthenticated('The session was revoked.');
    return {
      kind: 'USER',
      subject,
      role: roleFromClaims(claims, ctx.rolesClaim),
      expiresAt,
      ...(issuedAt !== undefined && { issuedAt }),
      ...(named.ref && { tenantRef: named.ref }),
    };
  }

  // Service tokens name their virtual tenant by id, whatever the user tokens' strategy.
  const claimed = parseTenantId(readClaim(claims, ctx.tenantClaim));
  if (!subject || claimed === undefined) throw unauthenticated('The token lacks a usable subject or tenant.');
  const claimedTenant = ctx.tenants.byId(claimed);
  if (claimedTenant?.kind !== 'virtual' || claimedTenant.disabled) {
    throw unauthenticated('The service token names no configured virtual tenant.');
  }
  if (!serviceMayAct(claimedTenant, ctx.tenant)) throw forbidden('This service is not granted this tenant.');
  return { kind: 'SERVICE', subject, actorTenantId: claimedTenant.id, expiresAt };
}

/** A virtual tenant acts on its own host and on the regular tenants its grants name. */
export function serviceMayAct(service: Tenant, target: Tenant): boolean {
  if (service.id === target.id) return true;
  if (target.kind !== 'regular') return false;
  return service.grants === '*' || service.grants.includes(target.id);
}
