import { forbidden, tenantMismatch, unauthenticated } from '../errors.js';
import type { TenantSet } from '../tenancy/tenant-set.js';
import { type Tenant, tenantKind } from '../tenancy/tenants-file.js';
import type { TokenVerifier } from './verify.js';

/**
 * Who is calling, decided once per request before GraphQL runs. `expiresAt` is the token's `exp`
 * (seconds since the epoch): a subscription stream it opened ends then (auth/stream-credentials.ts).
 */
export type Principal =
  | { readonly kind: 'ANONYMOUS' }
  | { readonly kind: 'USER'; readonly subject: string; readonly expiresAt: number }
  | {
      readonly kind: 'SERVICE';
      readonly subject: string;
      readonly actorTenantId: number;
      readonly expiresAt: number;
    }
  | { readonly kind: 'API_KEY'; readonly subject: string; readonly apiKeyId: string };

export const ANONYMOUS: Principal = Object.freeze({ kind: 'ANONYMOUS' });

const MAX_TENANT_ID = 2_147_483_647;

/**
 * A tenant claim is a tenant id (1..2^31-1), as a JSON number or a canonical string of digits.
 * "2.0", "02", " 2", [2], true and null are refused rather than coerced.
 */
export function parseTenantClaim(value: unknown): number | undefined {
  const id =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && /^[1-9][0-9]{0,9}$/.test(value)
        ? Number(value)
        : NaN;
  return Number.isInteger(id) && id >= 1 && id <= MAX_TENANT_ID ? id : undefined;
}

/**
 * A subject becomes `app.user_id` and audit rows: a NUL breaks every statement of the request,
 * and a lone surrogate would be stored as U+FFFD, so two different subjects could become one.
 * Control characters have no place in an identifier either.
 */
const UNUSABLE_IN_SUBJECT = /[\p{Cc}\p{Cs}]/u;

function isUsableSubject(subject: string): boolean {
  return subject !== '' && !UNUSABLE_IN_SUBJECT.test(subject);
}

export interface BearerContext {
  tenant: Tenant;
  tenants: TenantSet;
  verifier: TokenVerifier;
  tenantClaim: string;
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
  const claimed = parseTenantClaim(claims[ctx.tenantClaim]);
  if (!subject || claimed === undefined) throw unauthenticated('The token lacks a usable subject or tenant.');
  const claimedTenant = ctx.tenants.byId(claimed);
  const expiresAt = claims.exp as number; // the verifier requires a numeric exp

  if (verified.kind === 'user') {
    // User tokens act only for regular tenants and the system tenant, never as a peer server:
    // the id range decides, so an unconfigured virtual id is refused the same way.
    if (tenantKind(claimed) === 'virtual')
      throw unauthenticated('A user token cannot act for a virtual tenant.');
    if (ctx.tenant.kind === 'virtual') throw forbidden('This host accepts only its own service tokens.');
    if (claimed !== ctx.tenant.id) throw tenantMismatch();
    return { kind: 'USER', subject, expiresAt };
  }

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
