import { describe, expect, it } from 'vitest';
import { generateApiKey, parseApiKey, secretMatches } from '../../src/auth/api-key.js';
import { readConfig } from '../../src/config.js';
import { parseTenantId } from '../../src/tenancy/tenants-file.js';

describe('parseTenantId (a tenant claim holding an id)', () => {
  it.each([
    [2, 2],
    ['2', 2],
    [2147483647, 2147483647],
    ['2147483647', 2147483647],
  ])('accepts %j', (claim, id) => {
    expect(parseTenantId(claim)).toBe(id);
  });

  it.each([
    ['2.0'],
    ['02'],
    [' 2'],
    ['2 '],
    ['+2'],
    ['0x2'],
    ['1e1'],
    [2.5],
    [0],
    [-2],
    [2147483648],
    ['2147483648'],
    [Number.NaN],
    [[2]],
    [true],
    [null],
    [undefined],
    [{ id: 2 }],
  ])('refuses %j', (claim) => {
    expect(parseTenantId(claim)).toBeUndefined();
  });
});

describe('API key format', () => {
  it('round-trips: a generated key parses to its prefix and hash', () => {
    const key = generateApiKey();
    expect(key.plaintext).toMatch(/^tql_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    const parsed = parseApiKey(key.plaintext)!;
    expect(parsed.prefix).toBe(key.prefix);
    expect(secretMatches(parsed.secretHash, key.secretHash)).toBe(true);
  });

  it('two keys never share a secret; a wrong or missing hash never matches', () => {
    const a = generateApiKey();
    const b = generateApiKey();
    expect(a.plaintext).not.toBe(b.plaintext);
    expect(secretMatches(parseApiKey(a.plaintext)!.secretHash, b.secretHash)).toBe(false);
    expect(secretMatches(parseApiKey(a.plaintext)!.secretHash, undefined)).toBe(false);
    expect(secretMatches(Buffer.alloc(32), undefined)).toBe(false);
    expect(secretMatches(parseApiKey(a.plaintext)!.secretHash, Buffer.alloc(5))).toBe(false);
  });

  it('refuses anything else, including a non-canonical spelling of the same secret', () => {
    const { plaintext } = generateApiKey();
    for (const bad of [
      '',
      plaintext.toUpperCase(),
      plaintext.slice(0, -1),
      `${plaintext}=`,
      plaintext.replace('tql_', 'tqx_'),
      `Bearer ${plaintext}`,
    ]) {
      expect(parseApiKey(bad)).toBeUndefined();
    }
    // 43 base64url characters carry 258 bits for 256: flipping the last character's lowest bit
    // spells the same bytes differently. Only the canonical spelling is the key.
    const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const sibling = plaintext.slice(0, -1) + ALPHABET[ALPHABET.indexOf(plaintext.at(-1)!) ^ 1];
    expect(Buffer.from(sibling.slice(-43), 'base64url')).toEqual(
      Buffer.from(plaintext.slice(-43), 'base64url'),
    );
    expect(parseApiKey(sibling)).toBeUndefined();
  });
});

describe('auth configuration', () => {
  // A master key, so that production's problems and development's warnings here are the JWT ones.
  const base = {
    DATABASE_URL: 'postgres://x@localhost/db',
    TENANT_MASTER_KEY: Buffer.alloc(32, 7).toString('base64'),
  };
  const problems = (env: Record<string, string>) => {
    const result = readConfig({ ...base, ...env });
    return result.ok ? [] : result.problems;
  };

  it('production refuses to start without a user key and a service key', () => {
    expect(problems({ NODE_ENV: 'production' })).toEqual([
      'JWT_SECRET or JWT_JWKS_URL: required in production',
      'SERVICE_JWT_SECRET or SERVICE_JWKS_URL: required in production',
    ]);
  });

  it('the service key must differ from the user key', () => {
    const same = 'x'.repeat(40);
    expect(problems({ JWT_SECRET: same, SERVICE_JWT_SECRET: same })).toContain(
      'SERVICE_JWT_SECRET: must differ from JWT_SECRET',
    );
    expect(
      problems({ JWT_JWKS_URL: 'https://idp.test/jwks', SERVICE_JWKS_URL: 'https://idp.test/jwks' }),
    ).toContain('SERVICE_JWKS_URL: must differ from JWT_JWKS_URL');
  });

  it('one source per key, and HS256 secrets of at least 32 bytes in production', () => {
    expect(problems({ JWT_SECRET: 'x'.repeat(40), JWT_JWKS_URL: 'https://idp.test/jwks' })).toContain(
      'JWT_SECRET and JWT_JWKS_URL: set only one',
    );
    expect(
      problems({ NODE_ENV: 'production', JWT_SECRET: 'short', SERVICE_JWT_SECRET: 'y'.repeat(32) }),
    ).toEqual(['JWT_SECRET: must be at least 32 bytes in production']);
    expect(
      problems({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32), SERVICE_JWT_SECRET: 'y'.repeat(32) }),
    ).toEqual([]);
  });

  it('outside production the development secrets fill in, with a warning each', () => {
    const result = readConfig(base);
    expect(result.ok && result.warnings.length).toBe(2);
    expect(result.ok && result.config.jwt.devSecret && result.config.serviceJwt.devSecret).toBe(true);
  });
});
