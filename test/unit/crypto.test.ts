import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  CorruptCiphertext,
  decryptField,
  encryptField,
  isEnvelope,
  keyedHash,
} from '../../src/crypto/envelope.js';
import { masterKeyId, newDataKey, unwrapKey, wrapKey } from '../../src/crypto/key-wrap.js';
import { DEV_KEY_WARNING, readMasterKeys } from '../../src/crypto/master-keys.js';

// SPEC §12: the envelope, the wrapped data keys and the master keys, without a database.
describe('field envelope', () => {
  const key = newDataKey();
  it('round-trips, with a fresh nonce each time, as tq1: text', () => {
    const a = encryptField(key, 2, 'app.members.email', 'ada@example.test');
    const b = encryptField(key, 2, 'app.members.email', 'ada@example.test');
    expect(a).not.toBe(b);
    expect(a).toMatch(/^tq1:[A-Za-z0-9_-]+$/);
    expect(isEnvelope(a)).toBe(true);
    expect(a).not.toContain('ada');
    expect(decryptField(key, 2, 'app.members.email', a)).toBe('ada@example.test');
    expect(decryptField(key, 2, 'c', encryptField(key, 2, 'c', ''))).toBe('');
    expect(decryptField(key, 2, 'c', encryptField(key, 2, 'c', 'Zoë 🚀'))).toBe('Zoë 🚀');
  });

  it('refuses another tenant, another column, another key, a flipped byte, a cut value, another version', () => {
    const stored = encryptField(key, 2, 'app.members.email', 'ada@example.test');
    const raw = Buffer.from(stored.slice(4), 'base64url');
    raw[20]! ^= 1;
    const cases = [
      () => decryptField(key, 3, 'app.members.email', stored),
      () => decryptField(key, 2, 'app.members.name', stored),
      () => decryptField(newDataKey(), 2, 'app.members.email', stored),
      () => decryptField(key, 2, 'app.members.email', `tq1:${raw.toString('base64url')}`),
      () => decryptField(key, 2, 'app.members.email', stored.slice(0, 30)),
      () => decryptField(key, 2, 'app.members.email', `tq9:${stored.slice(4)}`),
      () => decryptField(key, 2, 'app.members.email', 'ada@example.test'),
    ];
    for (const attempt of cases) {
      expect(attempt).toThrow(CorruptCiphertext);
      try {
        attempt();
      } catch (error) {
        expect((error as Error).message).not.toContain('ada');
      }
    }
  });

  it('takes integer tenant ids only: 2.5 is neither a tenant of its own nor tenant 2', () => {
    expect(() => encryptField(key, 2.5, 'c', 'x')).toThrow(RangeError);
    expect(() => decryptField(key, 2.5, 'c', encryptField(key, 2, 'c', 'x'))).toThrow(RangeError);
    expect(() => wrapKey(randomBytes(32), 2.5, newDataKey())).toThrow(RangeError);
  });

  it('keyed hashes: equal for one tenant and purpose, different across tenants and purposes', () => {
    const other = newDataKey();
    expect(keyedHash(key, 'member-email', 'a@x')).toEqual(keyedHash(key, 'member-email', 'a@x'));
    expect(keyedHash(key, 'member-email', 'a@x')).not.toEqual(keyedHash(other, 'member-email', 'a@x'));
    expect(keyedHash(key, 'member-email', 'a@x')).not.toEqual(keyedHash(key, 'other', 'a@x'));
    expect(keyedHash(key, 'member-email', 'a@x')).toHaveLength(32);
  });
});

describe('wrapped data keys', () => {
  const master = randomBytes(32);
  it('unwrap only with the master key that wrapped them, for the tenant they were wrapped for', () => {
    const dataKey = newDataKey();
    const wrapped = wrapKey(master, 7, dataKey);
    expect(wrapped.masterId).toBe(masterKeyId(master));
    expect(wrapped.masterId).toMatch(/^[0-9a-f]{16}$/);
    expect(wrapped.wrapped.includes(dataKey)).toBe(false);
    expect(unwrapKey(master, 7, wrapped.wrapped)).toEqual(dataKey);
    expect(unwrapKey(master, 8, wrapped.wrapped)).toBeUndefined();
    expect(unwrapKey(randomBytes(32), 7, wrapped.wrapped)).toBeUndefined();
    expect(unwrapKey(master, 7, wrapped.wrapped.subarray(1))).toBeUndefined();
  });
});

describe('master keys', () => {
  const good = randomBytes(32).toString('base64');
  it('production needs a valid key; development falls back to the public key with one warning', () => {
    expect(readMasterKeys({}, true)).toEqual({
      ok: false,
      problems: ['TENANT_MASTER_KEY: required with NODE_ENV=production (base64 of 32 random bytes)'],
    });
    const dev = readMasterKeys({}, false);
    expect(dev.ok && dev.keys.dev).toBe(true);
    expect(dev.ok && dev.warnings).toEqual([DEV_KEY_WARNING]);
    const set = readMasterKeys({ TENANT_MASTER_KEY: good }, true);
    expect(set.ok && set.keys.current.toString('base64')).toBe(good);
    expect(set.ok && set.warnings).toEqual([]);
  });

  it('names the variable of a malformed key, never its value', () => {
    const short = randomBytes(16).toString('base64');
    const result = readMasterKeys({ TENANT_MASTER_KEY: short, TENANT_MASTER_KEY_NEW: 'not base64!' }, false);
    expect(result.ok).toBe(false);
    const problems = result.ok ? [] : result.problems;
    expect(problems).toEqual([
      'TENANT_MASTER_KEY: must be base64 of exactly 32 bytes (it decodes to 16)',
      'TENANT_MASTER_KEY_NEW: must be base64 (of 32 random bytes)',
    ]);
    expect(problems.join()).not.toContain(short);
    expect(readMasterKeys({ TENANT_MASTER_KEY: good, TENANT_MASTER_KEY_NEW: good }, false).ok).toBe(false);
  });
});
