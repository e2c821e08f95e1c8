import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { normalizeHost } from '../../src/tenancy/host.js';
import { diffTenantSets, TenantSet } from '../../src/tenancy/tenant-set.js';
import { parseTenantsFile, type TenantsConfig } from '../../src/tenancy/tenants-file.js';

function configOf(json: unknown): TenantsConfig {
  const result = parseTenantsFile(typeof json === 'string' ? json : JSON.stringify(json));
  if (!result.ok) throw new Error(result.problems.join('\n'));
  return result.config;
}

const exampleText = readFileSync(new URL('../../tenants.example.json', import.meta.url), 'utf8');
const example = TenantSet.from(configOf(exampleText));
const idAt = (rawHost: string) => {
  const normalized = normalizeHost(rawHost);
  return normalized.ok ? example.byHost(normalized.host)?.id : 'bad host';
};

describe('TenantSet', () => {
  it('exposes the base domain, size and every tenant', () => {
    expect(example.baseDomain).toBe('localhost');
    expect(example.size).toBe(5);
    expect(example.all().map((t) => t.id)).toEqual([1, 2, 3, 81, 100]);
    expect(example.byId(3)?.subdomain).toBe('tenant2');
    expect(example.byId(4)).toBeUndefined();
  });

  it.each([
    ['admin.localhost', 1],
    ['tenant1.localhost', 2],
    ['TENANT1.localhost:4000', 2],
    ['tenant1.localhost.:4000', 2],
    ['tenant2.localhost', 3],
    ['graphql.tenant-two.test', 3],
    ['graphql.tenant-two.test.', 3],
    ['reports.localhost', 81],
    ['acme.localhost', 100],
  ])('resolves %s to tenant %i', (host, id) => {
    expect(idAt(host)).toBe(id);
  });

  it.each([
    'tenant1.localhost.evil.test',
    'x.tenant1.localhost',
    'localhost',
    'tenant-two.test',
    'x.graphql.tenant-two.test',
    'tenant3.localhost',
    'tenant1',
  ])('matches nothing for %s', (host) => {
    expect(idAt(host)).toBeUndefined();
  });

  it('is frozen', () => {
    expect(Object.isFrozen(example)).toBe(true);
    expect(Object.isFrozen(example.all())).toBe(true);
  });

  it('refuses a config where two tenants share a host (the parser prevents it)', () => {
    const base = configOf(exampleText);
    const clash = { ...base, tenants: [...base.tenants, { ...base.tenants[1]!, id: 5 }] };
    expect(() => TenantSet.from(clash)).toThrow(/tenant1\.localhost/);
  });
});

describe('TenantSet: subdomains and external ids (SPEC §6)', () => {
  const set = TenantSet.from(
    configOf({
      baseDomain: 'localhost',
      tenants: [
        { id: 2, subdomain: 'a', name: 'A', externalIds: ['org_a', 'org_a2'] },
        { id: 3, subdomain: 'b', name: 'B', domains: ['b.localhost.test'] },
      ],
    }),
  );

  it('finds a tenant by any of its external ids, exactly', () => {
    expect(set.byExternalId('org_a')?.id).toBe(2);
    expect(set.byExternalId('org_a2')?.id).toBe(2);
    for (const other of ['ORG_A', 'org_a ', 'org', '', 'a']) expect(set.byExternalId(other)).toBeUndefined();
  });

  it('finds a tenant by its subdomain only, never by a host or custom domain', () => {
    expect(set.bySubdomain('b')?.id).toBe(3);
    for (const other of ['b.localhost', 'b.localhost.test', 'B', ''])
      expect(set.bySubdomain(other)).toBeUndefined();
  });
});

describe('diffTenantSets', () => {
  const file = (tenants: object[]) => TenantSet.from(configOf({ baseDomain: 'localhost', tenants }));
  const before = [
    { id: 2, subdomain: 'a', name: 'A' },
    { id: 3, subdomain: 'b', name: 'B' },
    { id: 4, subdomain: 'c', name: 'C' },
    { id: 5, subdomain: 'd', name: 'D', domains: ['d.test'] },
    { id: 81, subdomain: 'peer', name: 'Peer', grants: [2] },
  ];
  const previous = file(before);

  it('is empty for an identical file', () => {
    expect(diffTenantSets(previous, file(before))).toEqual({ added: [], removed: [], changed: [] });
  });

  it('lists added, removed and changed ids, sorted', () => {
    const next = file([
      { id: 9, subdomain: 'z', name: 'Z' },
      { id: 2, subdomain: 'a', name: 'A', disabled: true },
      { id: 3, subdomain: 'b', name: 'B' },
      { id: 5, subdomain: 'd', name: 'D', domains: ['d2.test'] },
      { id: 81, subdomain: 'peer', name: 'Peer', grants: '*' },
      { id: 7, subdomain: 'y', name: 'Y' },
    ]);
    expect(diffTenantSets(previous, next)).toEqual({ added: [7, 9], removed: [4], changed: [2, 5, 81] });
  });

  it.each<[string, number, object]>([
    ['name', 2, { name: 'A2' }],
    ['subdomain', 2, { subdomain: 'a2' }],
    ['disabled', 2, { disabled: true }],
    ['statementTimeoutMs', 2, { statementTimeoutMs: 1 }],
    ['rateLimit', 2, { rateLimit: { requests: 1, perSeconds: 60 } }],
    ['domains', 5, { domains: ['d.test', 'e.test'] }],
    ['grants', 81, { grants: [2, 3] }],
    ['externalIds', 3, { externalIds: ['org_b'] }],
  ])('counts a change of %s', (_field, id, change) => {
    const next = file(before.map((t) => (t.id === id ? { ...t, ...change } : t)));
    expect(diffTenantSets(previous, next)).toEqual({ added: [], removed: [], changed: [id] });
  });

  it('counts a change of the default a tenant inherits', () => {
    const next = TenantSet.from(
      configOf({ baseDomain: 'localhost', defaults: { statementTimeoutMs: 1 }, tenants: before }),
    );
    expect(diffTenantSets(previous, next).changed).toEqual([2, 3, 4, 5, 81]);
  });
});
