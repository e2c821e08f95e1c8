import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * API key format: `tql_<prefix>_<secret>`. The prefix (6 random bytes as 12 hex digits) is
 * public and finds the row; the secret (32 random bytes, base64url) is shown once and only
 * its SHA-256 is stored. See migrations/003_api_keys_audit.sql for why SHA-256 suffices.
 */
const FORMAT = /^tql_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;
const SECRET_BYTES = 32;

export interface ParsedApiKey {
  readonly prefix: string;
  readonly secretHash: Buffer;
}

export interface NewApiKey extends ParsedApiKey {
  /** The whole key, for the client; never stored or logged. */
  readonly plaintext: string;
}

export function generateApiKey(): NewApiKey {
  const prefix = randomBytes(6).toString('hex');
  const secret = randomBytes(SECRET_BYTES);
  return { prefix, secretHash: hash(secret), plaintext: `tql_${prefix}_${secret.toString('base64url')}` };
}

/** The prefix and secret hash of a presented key, or undefined if it is not one of ours. */
export function parseApiKey(presented: string): ParsedApiKey | undefined {
  const match = FORMAT.exec(presented);
  if (!match) return undefined;
  const secret = Buffer.from(match[2]!, 'base64url');
  // Re-encoding must give the same text: rejects non-canonical spellings of the same bytes.
  if (secret.length !== SECRET_BYTES || secret.toString('base64url') !== match[2]) return undefined;
  return { prefix: match[1]!, secretHash: hash(secret) };
}

const DUMMY_HASH = Buffer.alloc(32);

/**
 * Constant-time comparison of two SHA-256 digests. With no stored hash (unknown prefix) it
 * still compares, against zeros, so both paths cost the same.
 */
export function secretMatches(presentedHash: Buffer, storedHash: Buffer | undefined): boolean {
  const stored = storedHash?.length === presentedHash.length ? storedHash : DUMMY_HASH;
  const equal = presentedHash.length === stored.length && timingSafeEqual(presentedHash, stored);
  return equal && stored === storedHash;
}

function hash(secret: Buffer): Buffer {
  return createHash('sha256').update(secret).digest();
}
