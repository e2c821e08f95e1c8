import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataKeys, KeyUnavailable } from '../../src/crypto/data-keys.js';
import { decryptField, encryptField } from '../../src/crypto/envelope.js';
import { createKeyStorePool, type KeyStore, PostgresKeyStore } from '../../src/crypto/key-store.js';
import { masterKeyId, wrapKey } from '../../src/crypto/key-wrap.js';
import { rotateMasterKey } from '../../src/crypto/rotate-master.js';
import { silentLogger } from '../../src/observability/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { tenantqlInProcess } from '../helpers/run-command.js';

// SPEC §12: `tenantql keys rotate-master` re-wraps every data key from TENANT_MASTER_KEY to
// TENANT_MASTER_KEY_NEW in the key store database, without touching data; resumable.
let db: TestDatabase;
let pool: pg.Pool;
let ownerPool: pg.Pool;
const oldKey = randomBytes(32);
const newKey = randomBytes(32);
const TENANTS = Array.from({ length: 23 }, (_, n) => n + 2);
const secrets = new Map<number, string>();
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  db = await createTestDatabase();
  pool = createKeyStorePool({ url: db.keys.appUrl, logger: silentLogger });
  ownerPool = createKeyStorePool({ url: db.keys.ownerUrl, logger: silentLogger });
  env = {
    DATABASE_OWNER_URL: db.ownerUrl,
    TENANT_MASTER_KEY: oldKey.toString('base64'),
    TENANT_MASTER_KEY_NEW: newKey.toString('base64'),
  };
  // The servers before the rotation: every key under the old master key, a value encrypted with each.
  const server = new DataKeys({
    store: new PostgresKeyStore(pool),
    masterKeys: { current: oldKey, dev: false },
  });
  for (const tenantId of TENANTS) {
    secrets.set(
      tenantId,
      encryptField(await server.keyFor(tenantId), tenantId, 'c', `secret of ${tenantId}`),
    );
  }
});
afterAll(async () => {
  await pool?.end();
  await ownerPool?.end();
  await db?.drop();
});

/** The command in process, as bin/tenantql runs it, with what it wrote. */
const rotate = (environment: NodeJS.ProcessEnv, argv: string[] = []) =>
  tenantqlInProcess(['keys', 'rotate-master', ...argv], environment);

const mastersInStore = async () => {
  const { rows } = await pool.query<{ master_id: string; n: number }>(
    'SELECT master_id, count(*)::int AS n FROM keys.data_keys GROUP BY master_id ORDER BY master_id',
  );
  return Object.fromEntries(rows.map((r) => [r.master_id, r.n]));
};

/** Every tenant's value decrypts with the key `dataKeys` unwraps. */
async function allDecrypt(dataKeys: DataKeys) {
  for (const tenantId of TENANTS) {
    expect(decryptField(await dataKeys.keyFor(tenantId), tenantId, 'c', secrets.get(tenantId)!)).toBe(
      `secret of ${tenantId}`,
    );
  }
}

describe('tenantql keys rotate-master', () => {
  it('an interrupted rotation leaves each key under one master key or the other; the servers open both', async () => {
    const owner = new PostgresKeyStore(ownerPool);
    let replaced = 0;
    const failing: KeyStore = Object.create(owner);
    failing.replace = async (...args) => {
      if (replaced === 7) throw new Error('connection lost');
      replaced += 1;
      return owner.replace(...args);
    };
    await expect(rotateMasterKey({ store: failing, from: oldKey, to: newKey, batchSize: 5 })).rejects.toThrow(
      'connection lost',
    );
    expect(await mastersInStore()).toEqual({
      [masterKeyId(oldKey)]: TENANTS.length - 7,
      [masterKeyId(newKey)]: 7,
    });
    await allDecrypt(
      new DataKeys({
        store: new PostgresKeyStore(pool),
        masterKeys: { current: oldKey, next: newKey, dev: false },
      }),
    );
  });

  it('run again, it re-wraps the rest, skips what is done, and prints counts, never a key', async () => {
    const first = await rotate(env);
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toEqual({
      from: masterKeyId(oldKey),
      to: masterKeyId(newKey),
      keys: TENANTS.length,
      rewrapped: TENANTS.length - 7,
      alreadyNew: 7,
      gone: 0,
    });
    expect(await mastersInStore()).toEqual({ [masterKeyId(newKey)]: TENANTS.length });
    const again = await rotate(env);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ rewrapped: 0, alreadyNew: TENANTS.length });
    for (const output of [first, again]) {
      const text = output.stdout + output.stderr;
      for (const key of [oldKey, newKey]) {
        expect(text).not.toContain(key.toString('base64'));
        expect(text).not.toContain(key.toString('hex'));
      }
    }
    // rotated_at is set; the data keys themselves did not change: every value still decrypts.
    const { rows } = await pool.query(
      'SELECT count(*)::int AS n FROM keys.data_keys WHERE rotated_at IS NULL',
    );
    expect(rows[0].n).toBe(0);
  });

  it('afterwards the new master key alone opens every key, the old one none', async () => {
    await allDecrypt(
      new DataKeys({ store: new PostgresKeyStore(pool), masterKeys: { current: newKey, dev: false } }),
    );
    const stale = new DataKeys({
      store: new PostgresKeyStore(pool),
      masterKeys: { current: oldKey, dev: false },
    });
    await expect(stale.keyFor(TENANTS[0]!)).rejects.toThrow(KeyUnavailable);
  });

  it('stops with one line, exit 1, at a key that opens with neither master key', async () => {
    const stranger = randomBytes(32);
    await new PostgresKeyStore(pool).putIfAbsent(60, wrapKey(stranger, 60, randomBytes(32)));
    try {
      const run = await rotate(env);
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr.trim().split('\n')).toEqual([
        `tenantql keys rotate-master: tenant 60: its data key (master key id ${masterKeyId(stranger)}) opens with neither TENANT_MASTER_KEY (${masterKeyId(oldKey)}) nor TENANT_MASTER_KEY_NEW (${masterKeyId(newKey)}); 0 re-wrapped before it`,
      ]);
    } finally {
      await new PostgresKeyStore(ownerPool).delete(60);
    }
  });

  it('takes the keys from the environment only, and names a bad one without its value', async () => {
    const usage = await rotate({ ...env, TENANT_MASTER_KEY_NEW: '' });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('TENANT_MASTER_KEY_NEW is not set');
    expect((await rotate(env, ['--key', 'x'])).code).toBe(2);
    const short = randomBytes(16).toString('base64');
    const bad = await rotate({ ...env, TENANT_MASTER_KEY: short });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(
      'tenantql keys rotate-master: TENANT_MASTER_KEY: must be base64 of exactly 32 bytes (it decodes to 16)\n',
    );
    const unreachable = await rotate({
      ...env,
      DATABASE_OWNER_URL: 'postgres://owner:owner-secret@127.0.0.1:1/none',
    });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toBe(
      'tenantql keys rotate-master: cannot connect to PostgreSQL at 127.0.0.1:1 (connection refused): check DATABASE_OWNER_URL\n',
    );
    const production = await rotate({ ...env, NODE_ENV: 'production', TENANT_MASTER_KEY: '' });
    expect(production.code).toBe(1);
    expect(production.stderr).toContain('TENANT_MASTER_KEY: required with NODE_ENV=production');
  });
});
