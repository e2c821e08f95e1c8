import { LRUCache } from 'lru-cache';

/** What the cache needs of a verifier (verify.ts's TokenVerifier is one); no import, no cycle. */
interface Verifier<T extends Verified> {
  verify(token: string): Promise<T>;
}
interface Verified {
  readonly claims: { readonly exp?: number };
}

/** Bounds the memory: a verified token costs a few hundred bytes. */
const MAX_ENTRIES = 10_000;
/** No verification is reused for longer than this, even if the token lives longer. */
const MAX_AGE_MS = 60_000;

/**
 * Remembers tokens that verified, so a client sending the same token again skips the HMAC and
 * the claim checks (about a tenth of a no-SQL request's CPU). Only for keys that cannot change
 * while the process runs (JWT_SECRET, SERVICE_JWT_SECRET): a JWKS can retire a key at any time,
 * so its tokens are verified every time.
 *
 * What is cached is the verdict on exact token bytes, never a principal: the tenant, grant and
 * disabled checks still run on every request (auth/principal.ts), and so does the lookup of an
 * external id or group in the request's tenant set (auth/tenant-claim.ts), so a token reused on
 * another tenant's host is refused as before and a reload that moves an external id applies at
 * once. An entry ends at the token's `exp` (without the clock
 * tolerance) or after MAX_AGE_MS, whichever is first; failures are never cached.
 */
export function withVerifiedTokenCache<T extends Verified>(verifier: Verifier<T>): Verifier<T> {
  const verified = new LRUCache<string, T>({ max: MAX_ENTRIES, ttl: MAX_AGE_MS });
  return {
    async verify(token) {
      const hit = verified.get(token);
      if (hit) return hit;
      const result = await verifier.verify(token);
      const exp = result.claims.exp;
      const ttl = typeof exp === 'number' ? Math.min(MAX_AGE_MS, Math.floor(exp * 1000 - Date.now())) : 0;
      // Frozen: every request that reuses the verdict gets the very same claims.
      if (ttl >= 1)
        verified.set(token, Object.freeze({ ...result, claims: Object.freeze(result.claims) }) as T, { ttl });
      return result;
    },
  };
}
