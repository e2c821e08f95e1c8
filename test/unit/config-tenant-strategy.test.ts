import { describe, expect, it } from 'vitest';
import { readConfig } from '../../src/config.js';

// SPEC §6 "Tenant claim strategies": JWT_TENANT_FROM and the variables of each strategy.
const base = { TENANT_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') };
const read = (env: Record<string, string>) => readConfig({ ...base, ...env });
const problems = (env: Record<string, string>) => {
  const result = read(env);
  return result.ok ? [] : result.problems;
};
const strategy = (env: Record<string, string>) => {
  const result = read(env);
  if (!result.ok) throw new Error(result.problems.join('\n'));
  return result.config.jwt.tenantStrategy;
};

describe('the tenant strategy in the configuration', () => {
  it('is the tid claim by default, as before', () => {
    expect(strategy({})).toEqual({ kind: 'claim', claim: 'tid' });
    expect(
      strategy({ JWT_TENANT_FROM: 'claim', JWT_TENANT_CLAIM: 'urn:zitadel:iam:user:resourceowner:id' }),
    ).toEqual({
      kind: 'claim',
      claim: 'urn:zitadel:iam:user:resourceowner:id',
    });
    expect(strategy({ JWT_TENANT_CLAIM: 'app_metadata.tenant_id' })).toEqual({
      kind: 'claim',
      claim: 'app_metadata.tenant_id',
    });
  });

  it('group: the groups claim (default groups) and the prefix; JWT_TENANT_CLAIM stays for service tokens', () => {
    const result = read({ JWT_TENANT_FROM: 'group', JWT_TENANT_GROUP_PREFIX: 'tenant:' });
    if (!result.ok) throw new Error(result.problems.join('\n'));
    expect(result.config.jwt.tenantStrategy).toEqual({
      kind: 'group',
      groupsClaim: 'groups',
      prefix: 'tenant:',
    });
    expect(result.config.jwt.tenantClaim).toBe('tid');
    expect(
      strategy({
        JWT_TENANT_FROM: 'group',
        JWT_GROUPS_CLAIM: 'realm_access.groups',
        JWT_TENANT_GROUP_PREFIX: '/t/',
      }),
    ).toEqual({ kind: 'group', groupsClaim: 'realm_access.groups', prefix: '/t/' });
  });

  it('refuses an unknown strategy, naming the variable', () => {
    const listed = problems({ JWT_TENANT_FROM: 'groups' });
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatch(/^JWT_TENANT_FROM: .*"claim".*"group"/);
  });

  it('group without a prefix is a problem', () => {
    expect(problems({ JWT_TENANT_FROM: 'group' })).toEqual([
      'JWT_TENANT_GROUP_PREFIX: required with JWT_TENANT_FROM=group (e.g. tenant:)',
    ]);
    expect(problems({ JWT_TENANT_FROM: 'group', JWT_TENANT_GROUP_PREFIX: '  ' })).toEqual([
      'JWT_TENANT_GROUP_PREFIX: required with JWT_TENANT_FROM=group (e.g. tenant:)',
    ]);
  });

  it('a group variable without group is a problem: it would be silently ignored', () => {
    expect(problems({ JWT_TENANT_GROUP_PREFIX: 'tenant:', JWT_GROUPS_CLAIM: 'groups' })).toEqual([
      'JWT_GROUPS_CLAIM: only read with JWT_TENANT_FROM=group',
      'JWT_TENANT_GROUP_PREFIX: only read with JWT_TENANT_FROM=group',
    ]);
  });

  it.each(['app_metadata..tenant_id', '.tid', 'tid.', ' tid', 'org_id '])(
    'refuses the claim name %j',
    (name) => {
      const message = 'must be a claim name or a dotted path without empty parts or surrounding spaces';
      expect(problems({ JWT_TENANT_CLAIM: name })).toEqual([`JWT_TENANT_CLAIM: ${message}`]);
      expect(
        problems({ JWT_TENANT_FROM: 'group', JWT_TENANT_GROUP_PREFIX: 'tenant:', JWT_GROUPS_CLAIM: name }),
      ).toEqual([`JWT_GROUPS_CLAIM: ${message}`]);
    },
  );

  it('lists every problem at once', () => {
    expect(
      problems({ JWT_TENANT_FROM: 'group', JWT_TENANT_CLAIM: 'a..b', JWT_GROUPS_CLAIM: '.groups' }),
    ).toEqual([
      'JWT_TENANT_CLAIM: must be a claim name or a dotted path without empty parts or surrounding spaces',
      'JWT_GROUPS_CLAIM: must be a claim name or a dotted path without empty parts or surrounding spaces',
      'JWT_TENANT_GROUP_PREFIX: required with JWT_TENANT_FROM=group (e.g. tenant:)',
    ]);
  });
});
