import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataKeys, KeyUnavailable } from '../../src/crypto/data-keys.js';
import { CorruptCiphertext, decryptField, encryptField } from '../../src/crypto/envelope.js';
import { PostgresKeyStore } from '../../src/crypto/key-store.js';
import { masterKeyId, wrapKey } from '../../src/crypto/key-wrap.js';
import { ensureKeysDatabase } from '../../src/crypto/keys-database.js';
import type { MasterKeys } from '../../src/crypto/master-keys.js';
import { connectionUrl } from '../../src/db/setup.js';
import { createTestDatabase, type TestDatabase, withClient } from '../helpers/db.js';

// SPEC §12 (first part): the default key store, a database of its own beside the data, on a
// real PostgreSQL. Not yet wired into the server (issue 15).
let db: TestDatabase;
let keysDb: string;
let pool: pg.Pool;
let ownerPool: pg.Pool;
const master = (): MasterKeys => ({ current: randomBytes(32), dev: false });

beforeAll(async () => {
  db = await createTestDatabase();
  keysDb = await ensureKeysDatabase({
    superuserUrl: db.superuserUrl,
    mainDatabase: db.name,
    ownerRole: new URL(db.ownerUrl).username,
    runtimeRole: new URL(db.appUrl).username,
  });
  // Idempotent: run again, it changes nothing.
  await ensureKeysDatabase({
    superuserUrl: db.superuserUrl,
    mainDatabase: db.name,
    ownerRole: new URL(db.ownerUrl).username,
    runtimeRole: new URL(db.appUrl).username,
  });
  pool = new pg.Pool({ connectionString: connectionUrl(db.appUrl, keysDb), max: 4 });
  ownerPool = new pg.Pool({ connectionString: connectionUrl(db.ownerUrl, keysDb), max: 2 });
});
afterAll(async () => {
  await pool?.end();
  await ownerPool?.end();
  await withClient(db.superuserUrl, (c) =>
    c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(keysDb)} WITH (FORCE)`),
  );
  await db?.drop();
});

describe('the key store database', () => {
  it('one key per tenant, even when two servers ask twenty times at once; cached afterwards', async () => {
    const keys = master();
    const a = new DataKeys({ store: new PostgresKeyStore(pool), masterKeys: keys });
    const b = new DataKeys({ store: new PostgresKeyStore(pool), masterKeys: keys });
    const got = await Promise.all(Array.from({ length: 20 }, (_, n) => (n % 2 ? a : b).keyFor(5)));
    expect(new Set(got.map((k) => k.toString('hex'))).size).toBe(1);
    const { rows } = await pool.query(
      'SELECT tenant_id, master_id, length(wrapped) AS n FROM keys.data_keys',
    );
    expect(rows).toEqual([{ tenant_id: 5, master_id: masterKeyId(keys.current), n: 60 }]);
    // Only wrapped: the stored bytes do not contain the key.
    const stored = await pool.query('SELECT wrapped FROM keys.data_keys WHERE tenant_id = 5');
    expect((stored.rows[0].wrapped as Buffer).includes(got[0]!)).toBe(false);
    expect(await a.keyFor(5)).toBe(await a.keyFor(5));
  });

  it('the runtime role reads and adds keys, never changes or deletes one; no other role of the server connects', async () => {
    const store = new PostgresKeyStore(pool);
    const wrapped = wrapKey(randomBytes(32), 6, randomBytes(32));
    await store.putIfAbsent(6, wrapped);
    await expect(store.delete(6)).rejects.toThrow(/permission denied/);
    await expect(store.replace(6, wrapped, wrapKey(randomBytes(32), 6, randomBytes(32)))).rejects.toThrow(
      /permission denied/,
    );
    const admin = new pg.Client({ connectionString: connectionUrl(db.adminUrl, keysDb) });
    await expect(admin.connect()).rejects.toThrow(/permission denied for database/);
    expect(await new PostgresKeyStore(ownerPool).delete(6)).toBe(true);
  });

  it('destroyed, a key is gone for good: a new one is made, and what the old one encrypted does not decrypt', async () => {
    const keys = master();
    const owner = new DataKeys({ store: new PostgresKeyStore(ownerPool), masterKeys: keys });
    const server = new DataKeys({ store: new PostgresKeyStore(pool), masterKeys: keys });
    const before = await server.keyFor(7);
    const secret = encryptField(before, 7, 'app.members.email', 'ada@example.test');
    expect(await owner.destroy(7)).toBe(true);
    server.forget(7);
    const after = await server.keyFor(7);
    expect(after.equals(before)).toBe(false);
    expect(() => decryptField(after, 7, 'app.members.email', secret)).toThrow(CorruptCiphertext);
  });

  it('opens keys wrapped by the next master key during a rotation, and refuses a key no configured master key opens', async () => {
    const old = randomBytes(32);
    const next = randomBytes(32);
    const store = new PostgresKeyStore(pool);
    const dataKey = randomBytes(32);
    await store.putIfAbsent(8, wrapKey(next, 8, dataKey));
    const rotating = new DataKeys({ store, masterKeys: { current: old, next, dev: false } });
    expect(await rotating.keyFor(8)).toEqual(dataKey);
    const stale = new DataKeys({ store, masterKeys: { current: old, dev: false } });
    await expect(stale.keyFor(8)).rejects.toThrow(KeyUnavailable);
    await expect(stale.keyFor(8)).rejects.not.toThrow(dataKey.toString('hex'));
  });
});
