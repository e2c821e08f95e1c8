import type { Principal } from './principal.js';
import { ROLES, type Role } from './role-claim.js';

export {
  type ApiKeyScope,
  DEFAULT_ROLE,
  ROLES,
  type Role,
  roleClaims,
  roleFromClaims,
} from './role-claim.js';

/**
 * What a request may do, as the scope-auth scopes of graphql/builder.ts. Computed once per
 * request from the principal alone; fields declare which they need (no `if` in resolvers).
 *
 * | scope           | viewer | member | admin | READ key | WRITE key | service |
 * | --------------- | ------ | ------ | ----- | -------- | --------- | ------- |
 * | `authenticated` | ✓      | ✓      | ✓     | ✓        | ✓         | ✓       |
 * | `member`        |        | ✓      | ✓     |          | ✓         | ✓       |
 * | `admin`         |        |        | ✓     |          | ✓         | ✓       |
 * | `user`          | ✓      | ✓      | ✓     |          |           |         |
 *
 * Services act by their grants (writes allowed), not by roles, as before roles existed; a WRITE
 * key writes what its creator (an admin) may, as keys did before scopes. Neither passes
 * `user`, so what needs a person — API keys, revokeSessions: `{ $all: { user, admin } }` —
 * stays with admin users.
 */
export interface Permissions {
  readonly authenticated: boolean;
  readonly user: boolean;
  readonly member: boolean;
  readonly admin: boolean;
}

const NONE: Permissions = Object.freeze({ authenticated: false, user: false, member: false, admin: false });
const READ_ONLY: Permissions = Object.freeze({
  authenticated: true,
  user: false,
  member: false,
  admin: false,
});
const WRITES: Permissions = Object.freeze({ authenticated: true, user: false, member: true, admin: true });
const BY_ROLE: Readonly<Record<Role, Permissions>> = Object.freeze({
  viewer: Object.freeze({ authenticated: true, user: true, member: false, admin: false }),
  member: Object.freeze({ authenticated: true, user: true, member: true, admin: false }),
  admin: Object.freeze({ authenticated: true, user: true, member: true, admin: true }),
});

export function permissionsOf(principal: Principal): Permissions {
  switch (principal.kind) {
    case 'ANONYMOUS':
      return NONE;
    case 'USER':
      return BY_ROLE[principal.role];
    case 'SERVICE':
      return WRITES;
    case 'API_KEY':
      return principal.scope === 'WRITE' ? WRITES : READ_ONLY;
  }
}

/**
 * `viewer { roles }`: the roles whose scopes the request passes, weaker ones included, so a
 * client asks `roles.includes(MEMBER)` before it offers an edit. A service and a WRITE key
 * pass `admin`'s scope (see Permissions) and show it; anonymous shows none.
 */
export function rolesOf(principal: Principal): Role[] {
  const can = permissionsOf(principal);
  if (!can.authenticated) return [];
  return ROLES.filter((role) => role === 'viewer' || can[role]);
}
