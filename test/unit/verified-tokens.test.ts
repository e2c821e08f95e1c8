import { describe, expect, it } from 'vitest';
import { principalFromBearer } from '../../src/auth/principal.js';
import { withVerifiedTokenCache } from '../../src/auth/verified-tokens.js';
import type { TokenVerifier, VerifiedToken } from '../../src/auth/verify.js';
import { TenantSet } from '../../src/tenancy/tenant-set.js';
import { parseTenantsFile } from '../../src/tenancy/tenants-file.js';

/** A verifier that accepts tokens named `ok…` with the given exp, and counts its calls. */
function counting(expInSeconds: number | undefined) {
  const calls: string[] = [];
  const verifier: TokenVerifier = {
    async verify(token) {
      calls.push(token);
      if (!token.startsWith('ok')) throw new Error('bad signature');
      const exp = expInSeconds === undefined ? undefined : Date.now() / 1000 + expInSeconds;
      return { kind: 'user', claims: { sub: token, tid: 2, exp } } satisfies VerifiedToken;
    },
  };
  return { calls, verifier };
}

describe('the verified-token cache', () => {
  it('verifies a token once and then reuses the verdict, frozen, for the same bytes only', async () => {
    const { calls, verifier } = counting(3600);
    const cached = withVerifiedTokenCache(verifier);
    const first = await cached.verify('ok-a');
    const again = await cached.verify('ok-a');
    expect(again).toEqual(first);
    expect(Object.isFrozen(again.claims)).toBe(true);
    await cached.verify('ok-b');
    await cached.verify('ok-a ');
    expect(calls).toEqual(['ok-a', 'ok-b', 'ok-a ']);
  });

  it('never caches a failure', async () => {
    const { calls, verifier } = counting(3600);
    const cached = withVerifiedTokenCache(verifier);
    await expect(cached.verify('forged')).rejects.toThrow('bad signature');
    await expect(cached.verify('forged')).rejects.toThrow('bad signature');
    expect(calls).toEqual(['forged', 'forged']);
  });

  it("ends an entry at the token's exp, and keeps none for a token without exp", async () => {
    const { calls, verifier } = counting(0.2);
    const cached = withVerifiedTokenCache(verifier);
    await cached.verify('ok-short');
    await cached.verify('ok-short');
    expect(calls).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await cached.verify('ok-short');
    expect(calls).toHaveLength(2);

    const noExp = counting(undefined);
    const uncached = withVerifiedTokenCache(noExp.verifier);
    await uncached.verify('ok-forever');
    await uncached.verify('ok-forever');
    expect(noExp.calls).toHaveLength(2);
  });
});

describe('the verified-token cache and external ids (SPEC §6)', () => {
  /** Tenants 2 and 3, with `org` as an external id of `owner` (or of none). */
  const tenantsWith = (owner: 2 | 3 | undefined) => {
    const ids = (id: number) => (id === owner ? { externalIds: ['org'] } : {});
    const parsed = parseTenantsFile(
      JSON.stringify({
        baseDomain: 'localhost',
        tenants: [
          { id: 2, subdomain: 'tenant1', name: 'One', ...ids(2) },
          { id: 3, subdomain: 'tenant2', name: 'Two', ...ids(3) },
        ],
      }),
    );
    if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
    return TenantSet.from(parsed.config);
  };

  it('a remembered verdict maps the external id against the tenant set of each request', async () => {
    const calls: string[] = [];
    const cached = withVerifiedTokenCache<VerifiedToken>({
      async verify(token) {
        calls.push(token);
        return { kind: 'user', claims: { sub: 'alice', org_id: 'org', exp: Date.now() / 1000 + 3600 } };
      },
    });
    const on = async (tenants: TenantSet, tenantId: number) =>
      principalFromBearer('the-token', {
        tenant: tenants.byId(tenantId)!,
        tenants,
        verifier: cached,
        tenantClaim: 'tid',
        tenantStrategy: { kind: 'claim', claim: 'org_id' },
        rolesClaim: 'roles',
        isRevoked: () => false,
      }).then(
        (principal) => principal.kind,
        (error: { code: string }) => error.code,
      );
    expect(await on(tenantsWith(2), 2)).toBe('USER');
    // The reload moves the external id to tenant 3, then removes it.
    expect(await on(tenantsWith(3), 2)).toBe('TENANT_MISMATCH');
    expect(await on(tenantsWith(3), 3)).toBe('USER');
    expect(await on(tenantsWith(undefined), 2)).toBe('UNAUTHENTICATED');
    expect(await on(tenantsWith(2), 2)).toBe('USER');
    expect(calls).toEqual(['the-token']);
  });
});
