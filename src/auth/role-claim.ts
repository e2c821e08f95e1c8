// Roles as a token names them; what each may do is roles.ts (which needs the principal).
import { readClaim } from './tenant-claim.js';

/**
 * Roles inside a tenant (SPEC §6), weakest first: `viewer` reads, `member` also writes projects
 * and tasks, `admin` also creates members, manages API keys and revokes sessions.
 */
export const ROLES = ['viewer', 'member', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** An API key's scope, fixed at creation: READ only reads, WRITE writes as well. */
export type ApiKeyScope = 'READ' | 'WRITE';

/** The role of a user token whose roles claim is absent. */
export const DEFAULT_ROLE: Role = 'member';

/**
 * The role a user token acts with, from its roles claim (JWT_ROLES_CLAIM, read as the tenant
 * claim is: the whole name first, then a dotted path). The claim holds an array of strings or
 * one space-separated string; the strongest known role counts and unknown ones are ignored.
 *
 * Absent: `member` (SPEC's default). Present but naming no known role (only unknown strings,
 * an empty list, a number, an object, `null`): `viewer`. A token that says something about
 * roles and nothing this server understands gets the least, not the default: an identity
 * provider that sends `["Admin"]` or `["owner"]` is misconfigured, and that must not quietly
 * give write access.
 */
export function roleFromClaims(claims: Readonly<Record<string, unknown>>, rolesClaim: string): Role {
  const value = readClaim(claims, rolesClaim);
  if (value === undefined) return DEFAULT_ROLE;
  const names = typeof value === 'string' ? value.split(' ') : Array.isArray(value) ? value : [];
  let rank = 0;
  for (const name of names) {
    const index = typeof name === 'string' ? ROLES.indexOf(name as Role) : -1;
    if (index > rank) rank = index;
  }
  return ROLES[rank]!;
}

/**
 * The roles claim for a token tenantql signs itself (`tenantql token --role`, the development
 * banner's and GraphiQL's demo token), as one top-level key: readClaim finds that first.
 */
export function roleClaims(rolesClaim: string, role: Role | undefined): Record<string, unknown> {
  return role === undefined ? {} : { [rolesClaim]: [role] };
}
