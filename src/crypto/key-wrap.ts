import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/**
 * Data keys at rest (SPEC §12): wrapped with AES-256-GCM under the master key, the tenant id
 * bound as associated data, so a wrapped key copied to another tenant's row does not unwrap.
 * A wrapped key is nonce ‖ ciphertext ‖ tag (12 + 32 + 16 bytes).
 */
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

export interface WrappedKey {
  readonly wrapped: Buffer;
  /** masterKeyId() of the key that wrapped it: which master key opens it. */
  readonly masterId: string;
}

/** A short public name of a master key (not the key): stored beside each key it wraps. */
export function masterKeyId(masterKey: Buffer): string {
  return createHash('sha256').update('tenantql master key id\0').update(masterKey).digest('hex').slice(0, 16);
}

export function newDataKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

function aad(tenantId: number): Buffer {
  if (!Number.isSafeInteger(tenantId)) throw new RangeError(`${tenantId} is not a tenant id`);
  return Buffer.from(`tenantql data key\0${tenantId}`, 'utf8');
}

export function wrapKey(masterKey: Buffer, tenantId: number, dataKey: Buffer): WrappedKey {
  if (dataKey.length !== KEY_BYTES || masterKey.length !== KEY_BYTES)
    throw new RangeError('keys are 32 bytes');
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', masterKey, nonce);
  cipher.setAAD(aad(tenantId));
  const body = Buffer.concat([cipher.update(dataKey), cipher.final()]);
  return { wrapped: Buffer.concat([nonce, body, cipher.getAuthTag()]), masterId: masterKeyId(masterKey) };
}

/** The data key, or undefined when `masterKey` does not open it (another key, tampered, another tenant's). */
export function unwrapKey(masterKey: Buffer, tenantId: number, wrapped: Buffer): Buffer | undefined {
  if (wrapped.length !== NONCE_BYTES + KEY_BYTES + TAG_BYTES) return undefined;
  const associated = aad(tenantId); // outside the try: a bad id is a bug, not a wrong key
  try {
    const decipher = createDecipheriv('aes-256-gcm', masterKey, wrapped.subarray(0, NONCE_BYTES));
    decipher.setAAD(associated);
    decipher.setAuthTag(wrapped.subarray(NONCE_BYTES + KEY_BYTES));
    return Buffer.concat([
      decipher.update(wrapped.subarray(NONCE_BYTES, NONCE_BYTES + KEY_BYTES)),
      decipher.final(),
    ]);
  } catch {
    return undefined;
  }
}
