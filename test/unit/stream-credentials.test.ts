import { describe, expect, it } from 'vitest';
import type { Principal } from '../../src/auth/principal.js';
import { credentialProblem } from '../../src/auth/stream-credentials.js';
import { TenantSet } from '../../src/tenancy/tenant-set.js';
import { parseTenantsFile } from '../../src/tenancy/tenants-file.js';

/** The decision behind every stream end (SPEC §7): the same codes a new request would get. */
type Entry = {
  id: number;
  subdomain: string;
  name: string;
  grants?: number[] | '*';
  disabled?: boolean;
  externalIds?: string[];
};
const base: Entry[] = [
  { id: 2, subdomain: 'tenant1', name: 'One', externalIds: ['org_one'] },
  { id: 3, subdomain: 'tenant2', name: 'Two' },
  { id: 81, subdomain: 'reports', name: 'Reports', grants: [2] },
  { id: 82, subdomain: 'everything', name: 'Everything', grants: '*' },
];

function tenantsOf(entries: Entry[]): TenantSet {
  const result = parseTenantsFile(JSON.stringify({ baseDomain: 'localhost', tenants: entries }));
  if (!result.ok) throw new Error(result.problems.join('\n'));
  return TenantSet.from(result.config);
}

const EXP = 1_900_000_000; // seconds
const user: Principal = { kind: 'USER', subject: 'u', role: 'member', expiresAt: EXP };
const service = (actorTenantId: number): Principal => ({
  kind: 'SERVICE',
  subject: 's',
  actorTenantId,
  expiresAt: EXP,
});
const apiKey: Principal = { kind: 'API_KEY', subject: 'apikey:1', apiKeyId: '1', scope: 'WRITE' };
const before = EXP * 1000 - 1;

function problem(tenantId: number, principal: Principal, entries: Entry[] = base, nowMs = before) {
  const tenants = tenantsOf(base);
  return credentialProblem({ tenant: tenants.byId(tenantId)!, principal }, tenantsOf(entries), nowMs)?.code;
}
const change = (id: number, patch: Partial<Entry>) => base.map((t) => (t.id === id ? { ...t, ...patch } : t));
/** `id` gone from the file, and from the grants naming it (the file allows no dangling grant). */
const without = (id: number) =>
  base
    .filter((t) => t.id !== id)
    .map((t) => (Array.isArray(t.grants) ? { ...t, grants: t.grants.filter((g) => g !== id) } : t));

describe('credentialProblem', () => {
  it('keeps every credential while nothing changed and exp is ahead', () => {
    for (const principal of [user, service(81), service(82), apiKey])
      expect(problem(2, principal)).toBeUndefined();
    expect(problem(3, service(82))).toBeUndefined();
  });

  it('ends a token exactly at exp, without the clock tolerance requests get', () => {
    expect(problem(2, user, base, EXP * 1000)).toBe('UNAUTHENTICATED');
    expect(problem(2, service(81), base, EXP * 1000)).toBe('UNAUTHENTICATED');
    // An API key has no exp.
    expect(problem(2, apiKey, base, EXP * 1000 + 10 * 365 * 86_400_000)).toBeUndefined();
  });

  it('ends a service stream whose grant went (FORBIDDEN) or whose virtual tenant went (UNAUTHENTICATED)', () => {
    expect(problem(2, service(81), change(81, { grants: [3] }))).toBe('FORBIDDEN');
    expect(problem(2, service(82), change(82, { grants: [3] }))).toBe('FORBIDDEN');
    expect(problem(2, service(81), change(81, { disabled: true }))).toBe('UNAUTHENTICATED');
    expect(problem(2, service(81), without(81))).toBe('UNAUTHENTICATED');
    // Another service's change is not this stream's business.
    expect(problem(2, service(82), without(81))).toBeUndefined();
  });

  it('ends every stream of a tenant that is disabled or removed', () => {
    for (const principal of [user, service(81), apiKey]) {
      expect(problem(2, principal, change(2, { disabled: true }))).toBe('TENANT_DISABLED');
      expect(problem(2, principal, without(2))).toBe('TENANT_NOT_FOUND');
    }
    expect(problem(3, user, without(2))).toBeUndefined();
  });

  it('ends a user stream when a reload takes away the external id or group its token named the tenant by', () => {
    const byExternalId: Principal = { ...user, tenantRef: { externalId: 'org_one' } };
    const byGroup: Principal = { ...user, tenantRef: { subdomain: 'tenant1' } };
    expect(problem(2, byExternalId, change(2, { name: 'One renamed' }))).toBeUndefined();
    expect(problem(2, byGroup, change(2, { name: 'One renamed' }))).toBeUndefined();
    // Moved to another tenant: that token now names tenant 3 (a new request is 403); gone: 401.
    const moved = base.map((t) =>
      t.id === 2 ? { ...t, externalIds: [] } : t.id === 3 ? { ...t, externalIds: ['org_one'] } : t,
    );
    expect(problem(2, byExternalId, moved)).toBe('TENANT_MISMATCH');
    expect(problem(2, byExternalId, change(2, { externalIds: ['org_other'] }))).toBe('UNAUTHENTICATED');
    expect(problem(2, byGroup, change(2, { subdomain: 'tenant1b' }))).toBe('TENANT_MISMATCH');
    // A token that named the tenant by id is untouched by either.
    expect(problem(2, user, moved)).toBeUndefined();
  });
});
