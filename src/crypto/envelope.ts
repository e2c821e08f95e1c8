import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Field encryption with a tenant's data key (SPEC §12): AES-256-GCM, a random 96-bit nonce per
 * value, and the tenant id and the column bound as associated data, so a ciphertext copied into
 * another tenant's row, or into another column, does not decrypt. Stored as text, so it fits the
 * column it replaces and travels through an export as it is:
 *
 *   tq1:<base64url(nonce ‖ ciphertext ‖ tag)>
 *
 * The prefix is the format's version: a later format gets `tq2:` and both are read.
 */
const VERSION = 'tq1';
const PREFIX = `${VERSION}:`;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

/** A stored value that is not a ciphertext of this tenant and column: tampered, copied, or cut. */
export class CorruptCiphertext extends Error {
  constructor(
    readonly tenantId: number,
    readonly column: string,
  ) {
    // No detail of the value or the key: only where it was found.
    super(`a stored value of ${column} does not decrypt for tenant ${tenantId}`);
  }
}

function associatedData(tenantId: number, column: string): Buffer {
  // An integer, or 2.5 would share tenant 2's associated data.
  if (!Number.isSafeInteger(tenantId)) throw new RangeError(`${tenantId} is not a tenant id`);
  return Buffer.from(`tenantql field ${VERSION}\0${tenantId}\0${column}`, 'utf8');
}

function checkKey(dataKey: Buffer): void {
  if (dataKey.length !== KEY_BYTES) throw new RangeError('a data key is 32 bytes');
}

export function encryptField(dataKey: Buffer, tenantId: number, column: string, plaintext: string): string {
  checkKey(dataKey);
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', dataKey, nonce);
  cipher.setAAD(associatedData(tenantId, column));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return PREFIX + Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64url');
}

export function decryptField(dataKey: Buffer, tenantId: number, column: string, stored: string): string {
  checkKey(dataKey);
  if (!isEnvelope(stored)) throw new CorruptCiphertext(tenantId, column);
  const raw = Buffer.from(stored.slice(PREFIX.length), 'base64url');
  if (raw.length < NONCE_BYTES + TAG_BYTES) throw new CorruptCiphertext(tenantId, column);
  const aad = associatedData(tenantId, column); // outside the try: a bad id is a bug, not corrupt data
  try {
    const decipher = createDecipheriv('aes-256-gcm', dataKey, raw.subarray(0, NONCE_BYTES));
    decipher.setAAD(aad);
    decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
    const body = raw.subarray(NONCE_BYTES, raw.length - TAG_BYTES);
    return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
  } catch {
    throw new CorruptCiphertext(tenantId, column);
  }
}

/**
 * Was written by encryptField, in this format or another version (`tq<n>:`): anything else is a
 * value stored before its column was encrypted.
 */
export function isEncrypted(value: string): boolean {
  return /^tq[0-9]+:/.test(value);
}

/** Looks like a value of this format (the prefix and base64url only); it may still not decrypt. */
export function isEnvelope(value: string): boolean {
  return value.startsWith(PREFIX) && /^[A-Za-z0-9_-]+$/.test(value.slice(PREFIX.length));
}

/**
 * A keyed hash for equality and uniqueness on an encrypted column (a member's email): HMAC-SHA-256
 * under a subkey derived (HKDF-SHA-256) from the data key for `purpose`, so the hash key is
 * never the encryption key and two purposes never share one. Without the data key the hash
 * cannot be tested against guesses; two tenants hash the same value differently.
 */
export function keyedHash(dataKey: Buffer, purpose: string, value: string): Buffer {
  checkKey(dataKey);
  const subkey = Buffer.from(
    hkdfSync('sha256', dataKey, Buffer.alloc(0), `tenantql hash ${purpose}`, KEY_BYTES),
  );
  return createHmac('sha256', subkey).update(value, 'utf8').digest();
}
