import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { readConfig } from '../../src/config.js';
import { masterKeyId } from '../../src/crypto/key-wrap.js';
import { DEV_KEY_WARNING, DEV_MASTER_KEY } from '../../src/crypto/master-keys.js';

// SPEC §12 and §3: TENANT_MASTER_KEY (and TENANT_MASTER_KEY_NEW) in the configuration.
const PRODUCTION = {
  NODE_ENV: 'production',
  JWT_SECRET: 'u'.repeat(32),
  SERVICE_JWT_SECRET: 's'.repeat(32),
};

describe('master keys in the configuration', () => {
  it('production: a missing or malformed key is a problem naming the variable, never the value', () => {
    expect(readConfig(PRODUCTION)).toEqual({
      ok: false,
      problems: ['TENANT_MASTER_KEY: required with NODE_ENV=production (base64 of 32 random bytes)'],
    });
    const value = 'c2hvcnQga2V5'; // "short key"
    const result = readConfig({ ...PRODUCTION, TENANT_MASTER_KEY: value });
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problems).toEqual([
      'TENANT_MASTER_KEY: must be base64 of exactly 32 bytes (it decodes to 9)',
    ]);
    expect(JSON.stringify(result)).not.toContain(value);
  });

  it('production with a key: that key, no warning; TENANT_MASTER_KEY_NEW beside it during a rotation', () => {
    const current = randomBytes(32);
    const next = randomBytes(32);
    const result = readConfig({
      ...PRODUCTION,
      TENANT_MASTER_KEY: current.toString('base64'),
      TENANT_MASTER_KEY_NEW: next.toString('base64'),
    });
    if (!result.ok) throw new Error(result.problems.join('; '));
    expect(result.config.masterKeys.current).toEqual(current);
    expect(result.config.masterKeys.next).toEqual(next);
    expect(result.config.masterKeys.dev).toBe(false);
    expect(result.warnings.filter((w) => w.includes('MASTER'))).toEqual([]);
    // Logged or printed, the configuration shows key ids, never key bytes.
    for (const shown of [JSON.stringify(result.config), inspect(result.config, { depth: 5 })]) {
      expect(shown).toContain(masterKeyId(current));
      expect(shown).not.toContain(current.toString('base64'));
      expect(shown).not.toContain(current.toString('hex'));
      expect(shown).not.toMatch(/"type":"Buffer"|<Buffer/);
    }
    expect(Object.isFrozen(result.config)).toBe(true);
  });

  it('outside production: the public development key, with one warning', () => {
    const result = readConfig({});
    if (!result.ok) throw new Error(result.problems.join('; '));
    expect(result.config.masterKeys.current).toEqual(DEV_MASTER_KEY);
    expect(result.config.masterKeys.dev).toBe(true);
    expect(result.warnings.filter((w) => w === DEV_KEY_WARNING)).toHaveLength(1);
    expect(result.warnings.filter((w) => w.includes('TENANT_MASTER_KEY'))).toHaveLength(1);
    // A malformed key is refused outside production too: it is not "unset".
    expect(readConfig({ TENANT_MASTER_KEY_NEW: 'not base64!' }).ok).toBe(false);
  });
});
