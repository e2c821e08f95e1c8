import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
  SignJWT,
} from 'jose';
import type { Config } from '../config.js';
import { withVerifiedTokenCache } from './verified-tokens.js';

/**
 * The only importer of jose. Two independent verifiers: user tokens (JWT_SECRET / JWT_JWKS_URL)
 * and service tokens of virtual tenants (SERVICE_JWT_SECRET / SERVICE_JWKS_URL). Service tokens
 * also carry their own `typ`, so neither kind can pass as the other even if keys were shared.
 */
export const SERVICE_TOKEN_TYPE = 'tenantql-service+jwt';
const HMAC_ALGORITHMS = ['HS256'];
const ASYMMETRIC_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'];
/** A rotated key (new `kid`) is fetched at most this often, so a flood of unknown kids costs one fetch a second. */
const JWKS_COOLDOWN_MS = 1_000;
/** A key removed from the JWKS stops verifying within this time even if no new kid forces a refetch. */
const JWKS_CACHE_MAX_AGE_MS = 5 * 60_000;
/** Seconds of clock skew allowed on exp, nbf and iat. */
export const CLOCK_TOLERANCE_S = 30;

export type TokenKind = 'user' | 'service';
export interface VerifiedToken {
  readonly kind: TokenKind;
  readonly claims: JWTPayload;
}

export interface TokenVerifier {
  /** Resolves with the verified claims, or rejects (any rejection means 401). */
  verify(token: string): Promise<VerifiedToken>;
}

interface KeySource {
  key: Uint8Array | JWTVerifyGetKey;
  algorithms: string[];
}

function keySource(secret: string | undefined, jwksUrl: string | undefined): KeySource | undefined {
  if (jwksUrl) {
    return {
      key: createRemoteJWKSet(new URL(jwksUrl), {
        cooldownDuration: JWKS_COOLDOWN_MS,
        cacheMaxAge: JWKS_CACHE_MAX_AGE_MS,
        timeoutDuration: 3_000,
      }),
      algorithms: ASYMMETRIC_ALGORITHMS,
    };
  }
  if (secret) return { key: new TextEncoder().encode(secret), algorithms: HMAC_ALGORITHMS };
  return undefined;
}

export function createTokenVerifier(config: Pick<Config, 'jwt' | 'serviceJwt'>): TokenVerifier {
  const user = keySource(config.jwt.secret, config.jwt.jwksUrl);
  const maxTtl = config.jwt.maxTtlSeconds;
  const service = keySource(config.serviceJwt.secret, config.serviceJwt.jwksUrl);
  // jose requires neither exp nor sub by default; a token without them is refused (SPEC §6).
  // Issuer and audience, when configured, apply to both kinds: they name this API, not the key.
  const claimOptions = {
    requiredClaims: ['exp', 'sub'],
    clockTolerance: CLOCK_TOLERANCE_S,
    ...(config.jwt.issuer ? { issuer: config.jwt.issuer } : {}),
    ...(config.jwt.audience ? { audience: config.jwt.audience } : {}),
  };

  const verifier: TokenVerifier = {
    async verify(token) {
      // Choose the key by the declared type (normalised as jose compares it: case-insensitive,
      // optional "application/"); the signature check below is what decides.
      const typ = String(decodeProtectedHeader(token).typ ?? '').toLowerCase();
      const isService = typ.replace(/^application\//, '') === SERVICE_TOKEN_TYPE;
      const source = isService ? service : user;
      if (!source) throw new Error(`no ${isService ? 'service' : 'user'} key configured`);
      const { payload } = await verifyWith(token, source, isService, claimOptions);
      // jose checks iat only with maxTokenAge; a token issued in the future is forged or skewed.
      const now = Date.now() / 1000;
      if (typeof payload.iat === 'number' && payload.iat > now + CLOCK_TOLERANCE_S) {
        throw new Error('iat is in the future');
      }
      // A user token lives at most JWT_MAX_TTL_SECONDS, so a revocation need be kept no longer
      // (auth/session-revocations.ts). Without iat its age is unknown: what is left of it counts.
      if (!isService && (payload.exp as number) - (payload.iat ?? now) > maxTtl + CLOCK_TOLERANCE_S) {
        throw new Error('the token lives longer than JWT_MAX_TTL_SECONDS');
      }
      return { kind: isService ? 'service' : 'user', claims: payload };
    },
  };
  // Verdicts are reused only while no key can change under us: secrets, no JWKS.
  const keysAreFixed = !config.jwt.jwksUrl && !config.serviceJwt.jwksUrl;
  return keysAreFixed ? withVerifiedTokenCache(verifier) : verifier;
}

function verifyWith(
  token: string,
  source: KeySource,
  isService: boolean,
  claimOptions: { requiredClaims: string[]; clockTolerance: number; issuer?: string; audience?: string },
) {
  const options = {
    algorithms: source.algorithms,
    ...claimOptions,
    ...(isService ? { typ: SERVICE_TOKEN_TYPE } : {}),
  };
  return source.key instanceof Uint8Array
    ? jwtVerify(token, source.key, options)
    : jwtVerify(token, source.key, options);
}

export interface SignOptions {
  kind: TokenKind;
  secret: string;
  subject: string;
  tenantClaim: string;
  tenantId: number;
  /** e.g. `1h`, `5m` (jose's time span syntax). */
  ttl: string;
  issuer?: string | undefined;
  audience?: string | undefined;
  /** More claims, e.g. the tenant's group under JWT_TENANT_FROM=group (auth/tenant-claim.ts strategyClaims). */
  claims?: Readonly<Record<string, unknown>>;
}

/** HS256 tokens for `tenantql token`, the dev banner and tests. */
export function signToken(options: SignOptions): Promise<string> {
  const header = options.kind === 'service' ? { alg: 'HS256', typ: SERVICE_TOKEN_TYPE } : { alg: 'HS256' };
  let jwt = new SignJWT({ ...options.claims, [options.tenantClaim]: options.tenantId })
    .setProtectedHeader(header)
    .setSubject(options.subject)
    .setIssuedAt()
    .setExpirationTime(options.ttl);
  if (options.issuer) jwt = jwt.setIssuer(options.issuer);
  if (options.audience) jwt = jwt.setAudience(options.audience);
  return jwt.sign(new TextEncoder().encode(options.secret));
}
