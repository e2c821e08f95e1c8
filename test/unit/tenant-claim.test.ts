import { describe, expect, it } from 'vitest';
import { namedTenant, readClaim, strategyClaims } from '../../src/auth/tenant-claim.js';
import type { TenantStrategy } from '../../src/config.js';
import { TenantSet } from '../../src/tenancy/tenant-set.js';
import { parseTenantsFile } from '../../src/tenancy/tenants-file.js';

// SPEC §6 "Tenant claim strategies": where a user token names its tenant.
const result = parseTenantsFile(
  JSON.stringify({
    baseDomain: 'localhost',
    tenants: [
      { id: 1, subdomain: 'admin', name: 'System', externalIds: ['org_system'] },
      { id: 2, subdomain: 'tenant1', name: 'One', externalIds: ['org_one', '263154236541781250'] },
      { id: 3, subdomain: 'tenant2', name: 'Two', externalIds: ['org_two'], domains: ['two.test'] },
      { id: 81, subdomain: 'reports', name: 'Reports', grants: [2] },
    ],
  }),
);
if (!result.ok) throw new Error(result.problems.join('\n'));
const tenants = TenantSet.from(result.config);
const host = tenants.byId(2)!;

describe('readClaim', () => {
  const claims = {
    tid: 2,
    'urn:zitadel:iam:org:id': 'org_one',
    'https://example.com/org.id': 'org_url',
    app_metadata: { tenant_id: 'org_nested', deeper: { id: 7 }, list: [{ id: 1 }] },
    'app_metadata.tenant_id': 'org_flat',
  };

  it.each<[string, unknown]>([
    ['tid', 2],
    // A URN is one key, colons and all.
    ['urn:zitadel:iam:org:id', 'org_one'],
    // A top-level claim of that exact name wins over the path its dots spell.
    ['app_metadata.tenant_id', 'org_flat'],
    ['https://example.com/org.id', 'org_url'],
    ['app_metadata.deeper.id', 7],
    ['app_metadata', claims.app_metadata],
  ])('%s reads %j', (name, value) => {
    expect(readClaim(claims, name)).toEqual(value);
  });

  it('follows a dotted path when no top-level claim has the whole name', () => {
    expect(readClaim({ app_metadata: { tenant_id: 2 } }, 'app_metadata.tenant_id')).toBe(2);
  });

  it.each([
    'missing',
    'app_metadata.missing',
    'app_metadata.tenant_id.more', // a string has no keys
    'app_metadata.list.0.id', // arrays are not walked
    'tid.toString', // nor numbers
    'app_metadata.constructor', // own keys only: nothing of Object.prototype
    'constructor',
    '__proto__',
    'urn:zitadel:iam:org', // no prefix match
  ])('%s reads nothing', (name) => {
    expect(readClaim(claims, name)).toBeUndefined();
  });
});

describe('namedTenant under JWT_TENANT_FROM=claim', () => {
  const urn: TenantStrategy = { kind: 'claim', claim: 'urn:zitadel:iam:user:resourceowner:id' };
  const nested: TenantStrategy = { kind: 'claim', claim: 'app_metadata.tenant_id' };
  const named = (strategy: TenantStrategy, claims: Record<string, unknown>) =>
    namedTenant(claims, strategy, host, tenants);

  it('reads a tenant id, as a number or canonical string, with no note (an id never changes meaning)', () => {
    expect(named(urn, { [urn.claim]: 2 })).toEqual({ id: 2 });
    expect(named(nested, { app_metadata: { tenant_id: '3' } })).toEqual({ id: 3 });
    // An id no tenant has is still a tenant id: the caller answers TENANT_MISMATCH, as before.
    expect(named(urn, { [urn.claim]: 4242 })).toEqual({ id: 4242 });
  });

  it('reads an external id as its tenant, noting the external id', () => {
    expect(named(urn, { [urn.claim]: '263154236541781250' })).toEqual({
      id: 2,
      ref: { externalId: '263154236541781250' },
    });
    expect(named(nested, { app_metadata: { tenant_id: 'org_two' } })).toEqual({
      id: 3,
      ref: { externalId: 'org_two' },
    });
    expect(named(urn, { [urn.claim]: 'org_system' })).toEqual({ id: 1, ref: { externalId: 'org_system' } });
  });

  it.each<[string, unknown]>([
    ['an unknown organisation', 'org_unknown'],
    ['another case', 'ORG_ONE'],
    ['surrounding space', ' org_one'],
    ['an empty string', ''],
    ['an array where a string belongs', ['org_one']],
    ['an object', { id: 'org_one' }],
    ['true', true],
    ['null', null],
    ['a fraction', 2.5],
    ['an id out of range', 2147483648],
    ['a non-canonical id', '02'],
    // 263154236541781250 as a JSON number is past 2^53: not the string an IdP sends.
    ['a long id as a number', 263154236541781250],
  ])('names no tenant for %s', (_label, value) => {
    expect(named(urn, { [urn.claim]: value })).toBeUndefined();
    expect(named(nested, { app_metadata: { tenant_id: value } })).toBeUndefined();
  });

  it('names no tenant when the claim is missing, or the path leads through something else', () => {
    expect(named(urn, { tid: 2 })).toBeUndefined();
    expect(named(nested, { app_metadata: 'org_one' })).toBeUndefined();
    expect(named(nested, { app_metadata: [{ tenant_id: 2 }] })).toBeUndefined();
    expect(named(nested, { user_metadata: { tenant_id: 2 } })).toBeUndefined();
  });
});

describe('namedTenant under JWT_TENANT_FROM=group', () => {
  const strategy: TenantStrategy = { kind: 'group', groupsClaim: 'groups', prefix: 'tenant:' };
  const named = (groups: unknown, on = host) => namedTenant({ groups }, strategy, on, tenants);

  it("names the host's tenant when the token names it, among others", () => {
    expect(named(['tenant:tenant1'])).toEqual({ id: 2, ref: { subdomain: 'tenant1' } });
    expect(named(['staff', 'tenant:tenant2', 'tenant:tenant1'])).toEqual({
      id: 2,
      ref: { subdomain: 'tenant1' },
    });
    expect(named(['tenant:tenant1', 'tenant:tenant2'], tenants.byId(3)!)).toEqual({
      id: 3,
      ref: { subdomain: 'tenant2' },
    });
  });

  it('names another tenant when the host is not among them (the caller answers TENANT_MISMATCH)', () => {
    expect(named(['tenant:nosuch', 'tenant:tenant2'])).toEqual({ id: 3, ref: { subdomain: 'tenant2' } });
  });

  it.each<[string, unknown]>([
    ['no group with the prefix', ['staff', 'offline_access']],
    ['an unknown subdomain', ['tenant:nosuch']],
    ['the prefix alone', ['tenant:']],
    ['another case', ['Tenant:tenant1', 'tenant:TENANT1']],
    ['a host instead of a subdomain', ['tenant:tenant1.localhost', 'tenant:two.test']],
    ['a virtual tenant', ['tenant:reports']],
    ['a string where an array belongs', 'tenant:tenant1'],
    ['an empty array', []],
    ['a non-string among the groups', ['tenant:tenant1', 7]],
    ['an object', { 0: 'tenant:tenant1' }],
    ['null', null],
  ])('names no tenant for %s', (_label, groups) => {
    expect(named(groups)).toBeUndefined();
  });

  it('reads only the groups claim, never the tenant claim', () => {
    expect(namedTenant({ tid: 2 }, strategy, host, tenants)).toBeUndefined();
  });

  it('reads a dotted groups claim as a path', () => {
    const nested: TenantStrategy = { kind: 'group', groupsClaim: 'realm_access.groups', prefix: '/t/' };
    expect(namedTenant({ realm_access: { groups: ['/t/tenant1'] } }, nested, host, tenants)?.id).toBe(2);
  });
});

describe('strategyClaims (the tokens tenantql signs itself)', () => {
  it('adds the group under group, nothing under claim', () => {
    expect(
      strategyClaims({ kind: 'group', groupsClaim: 'realm_access.groups', prefix: 't:' }, 'tenant1'),
    ).toEqual({
      'realm_access.groups': ['t:tenant1'],
    });
    expect(strategyClaims({ kind: 'claim', claim: 'org_id' }, 'tenant1')).toEqual({});
  });

  it('names the tenant in a way namedTenant reads back', () => {
    const strategy: TenantStrategy = { kind: 'group', groupsClaim: 'realm_access.groups', prefix: 't:' };
    expect(namedTenant(strategyClaims(strategy, 'tenant1'), strategy, host, tenants)?.id).toBe(2);
  });
});
