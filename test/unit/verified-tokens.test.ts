import { describe, expect, it } from 'vitest';
import { withVerifiedTokenCache } from '../../src/auth/verified-tokens.js';
import type { TokenVerifier, VerifiedToken } from '../../src/auth/verify.js';

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
