import { describe, expect, it } from 'vitest';
import type { Principal } from '../../src/auth/principal.js';
import { permissionsOf, roleClaims, roleFromClaims, rolesOf } from '../../src/auth/roles.js';
import { readConfig } from '../../src/config.js';

// SPEC §6 "Roles inside a tenant": a user token's roles claim, the strongest known role counts,
// unknown ones are ignored, `member` when the claim is absent.
describe('roleFromClaims', () => {
  it.each<[string, unknown, string]>([
    ['absent: the default', undefined, 'member'],
    ['one role', ['viewer'], 'viewer'],
    ['the strongest of several, in any order', ['admin', 'viewer'], 'admin'],
    ['unknown ones ignored', ['owner', 'member', 'superuser'], 'member'],
    ['a space-separated string', 'viewer admin', 'admin'],
    ['one string', 'member', 'member'],
    // Present but naming no role this server knows: the least, never the default.
    ['only unknown roles', ['owner', 'Admin'], 'viewer'],
    ['case counts', 'ADMIN', 'viewer'],
    ['an empty list', [], 'viewer'],
    ['an empty string', '', 'viewer'],
    ['non-strings ignored', [1, null, { admin: true }, 'member'], 'member'],
    ['only non-strings', [true], 'viewer'],
    ['a number', 3, 'viewer'],
    ['an object', { admin: true }, 'viewer'],
    ['null', null, 'viewer'],
    ['a prototype name', ['constructor', '__proto__'], 'viewer'],
  ])('%s', (_name, value, role) => {
    const claims = value === undefined ? { sub: 'alice' } : { sub: 'alice', roles: value };
    expect(roleFromClaims(claims, 'roles')).toBe(role);
  });

  it('reads a dotted path only when no claim has that whole name (as the tenant claim)', () => {
    const nested = { realm_access: { roles: ['admin'] } };
    expect(roleFromClaims(nested, 'realm_access.roles')).toBe('admin');
    expect(roleFromClaims({ ...nested, 'realm_access.roles': ['viewer'] }, 'realm_access.roles')).toBe(
      'viewer',
    );
    // Arrays are not walked, and a missing step is an absent claim: the default.
    expect(roleFromClaims({ realm_access: [{ roles: ['admin'] }] }, 'realm_access.0.roles')).toBe('member');
    expect(roleFromClaims({ realm_access: {} }, 'realm_access.roles')).toBe('member');
  });

  it('roleClaims writes what roleFromClaims reads, also under a dotted name', () => {
    for (const name of ['roles', 'realm_access.roles', 'https://example.com/roles']) {
      expect(roleFromClaims(roleClaims(name, 'viewer'), name)).toBe('viewer');
      expect(roleFromClaims(roleClaims(name, 'admin'), name)).toBe('admin');
      expect(roleClaims(name, undefined)).toEqual({});
    }
  });
});

describe('permissionsOf and rolesOf', () => {
  const user = (role: 'viewer' | 'member' | 'admin'): Principal => ({
    kind: 'USER',
    subject: 'u',
    role,
    expiresAt: 0,
  });
  const key = (scope: 'READ' | 'WRITE'): Principal => ({
    kind: 'API_KEY',
    subject: 'apikey:1',
    apiKeyId: '1',
    scope,
  });
  const service: Principal = { kind: 'SERVICE', subject: 's', actorTenantId: 81, expiresAt: 0 };

  it.each<[string, Principal, string, string[]]>([
    // name, principal, scopes it passes (a=authenticated u=user m=member A=admin), roles shown
    ['anonymous', { kind: 'ANONYMOUS' }, '', []],
    ['viewer', user('viewer'), 'a u', ['viewer']],
    ['member', user('member'), 'a u m', ['viewer', 'member']],
    ['admin', user('admin'), 'a u m A', ['viewer', 'member', 'admin']],
    ['READ key', key('READ'), 'a', ['viewer']],
    ['WRITE key', key('WRITE'), 'a m A', ['viewer', 'member', 'admin']],
    ['service', service, 'a m A', ['viewer', 'member', 'admin']],
  ])('%s', (_name, principal, scopes, roles) => {
    const can = permissionsOf(principal);
    const passed = [can.authenticated && 'a', can.user && 'u', can.member && 'm', can.admin && 'A'].filter(
      Boolean,
    );
    expect(passed.join(' ')).toBe(scopes);
    expect(rolesOf(principal)).toEqual(roles);
  });
});

describe('JWT_ROLES_CLAIM and JWT_MAX_TTL_SECONDS in the configuration', () => {
  const base = { TENANT_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') };
  const read = (env: Record<string, string>) => readConfig({ ...base, ...env });

  it('default to roles and 7 days', () => {
    const result = read({});
    if (!result.ok) throw new Error(result.problems.join('\n'));
    expect(result.config.jwt.rolesClaim).toBe('roles');
    expect(result.config.jwt.maxTtlSeconds).toBe(604_800);
  });

  it('take a dotted path, and refuse one with an empty part or surrounding spaces', () => {
    const ok = read({ JWT_ROLES_CLAIM: 'realm_access.roles', JWT_MAX_TTL_SECONDS: '3600' });
    expect(ok.ok && [ok.config.jwt.rolesClaim, ok.config.jwt.maxTtlSeconds]).toEqual([
      'realm_access.roles',
      3600,
    ]);
    for (const name of ['realm_access..roles', '.roles', ' roles']) {
      const result = read({ JWT_ROLES_CLAIM: name });
      expect(result.ok ? [] : result.problems).toEqual([expect.stringMatching(/^JWT_ROLES_CLAIM: /)]);
    }
    for (const ttl of ['0', '59', 'a day']) {
      const result = read({ JWT_MAX_TTL_SECONDS: ttl });
      expect(result.ok ? [] : result.problems).toEqual([expect.stringMatching(/^JWT_MAX_TTL_SECONDS/)]);
    }
  });
});
