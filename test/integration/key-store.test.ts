import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DataKeys, KeyUnavailable } from '../../src/crypto/data-keys.js';
import { CorruptCiphertext, decryptField, encryptField } from '../../src/crypto/envelope.js';
import { FieldEncryption } from '../../src/crypto/field-encryption.js';
import { createKeyStorePool, type KeyStore, PostgresKeyStore } from '../../src/crypto/key-store.js';
import { masterKeyId, wrapKey } from '../../src/crypto/key-wrap.js';
import type { MasterKeys } from '../../src/crypto/master-keys.js';
import { ensureKeysDatabase, keysDatabaseUrl } from '../../src/db/keys-database.js';
import { silentLogger } from '../../src/observability/logger.js';
import { createTestDatabase, type TestDatabase, withClient } from '../helpers/db.js';

// SPEC §12: the default key store, a database of its own beside the data (`<NAME>_keys`, cloned
// for this file from the run's template as `db setup` made it), on a real PostgreSQL.
let db: TestDatabase;
let pool: pg.Pool;
let ownerPool: pg.Pool;
const master = (): MasterKeys => ({ current: randomBytes(32), dev: false });

beforeAll(async () => {
  db = await createTestDatabase();
  // As the server will: a small pool of its own.
  pool = createKeyStorePool({ url: db.keys.appUrl, logger: silentLogger });
  ownerPool = createKeyStorePool({ url: db.keys.ownerUrl, logger: silentLogger });
});
afterAll(async () => {
  await pool?.end();
  await ownerPool?.end();
  await db?.drop();
});

/** The key store's database as another login. */
function keysAs(user: string, password: string): string {
  const url = new URL(db.keys.ownerUrl);
  url.username = user;
  url.password = password;
  return url.toString();
}

/** A store that counts the reads DataKeys makes, to see the cache at work. */
function counting(store: KeyStore): KeyStore & { gets: number } {
  const counted = {
    gets: 0,
    get: (tenantId: number) => {
      counted.gets += 1;
      return store.get(tenantId);
    },
    putIfAbsent: store.putIfAbsent.bind(store),
    replace: store.replace.bind(store),
    delete: store.delete.bind(store),
    list: store.list.bind(store),
  };
  return counted;
}

describe('the key store database', () => {
  it('is where DATABASE_URL points, with _keys: the same server and role', () => {
    const derived = new URL(keysDatabaseUrl(db.appUrl));
    expect(derived.pathname).toBe(`/${db.name}_keys`);
    expect(derived.username).toBe(new URL(db.appUrl).username);
    expect(derived.password).toBe(new URL(db.appUrl).password);
  });

  it('one key per tenant, even when two servers ask twenty times at once; cached afterwards', async () => {
    const keys = master();
    const store = counting(new PostgresKeyStore(pool));
    const a = new DataKeys({ store, masterKeys: keys });
    const b = new DataKeys({ store: new PostgresKeyStore(pool), masterKeys: keys });
    const got = await Promise.all(Array.from({ length: 20 }, (_, n) => (n % 2 ? a : b).keyFor(5)));
    expect(new Set(got.map((k) => k.toString('hex'))).size).toBe(1);
    // Ten concurrent calls on `a`, one load.
    expect(store.gets).toBe(1);
    const { rows } = await pool.query(
      'SELECT tenant_id, master_id, length(wrapped) AS n FROM keys.data_keys',
    );
    expect(rows).toEqual([{ tenant_id: 5, master_id: masterKeyId(keys.current), n: 60 }]);
    // Only wrapped: the stored bytes do not contain the key.
    const stored = await pool.query('SELECT wrapped FROM keys.data_keys WHERE tenant_id = 5');
    expect((stored.rows[0].wrapped as Buffer).includes(got[0]!)).toBe(false);
    expect(await a.keyFor(5)).toBe(await a.keyFor(5));
    expect(store.gets).toBe(1);
  });

  it('keeps an unwrapped key for ttlMs, then reads it again', async () => {
    const keys = master();
    const store = counting(new PostgresKeyStore(pool));
    const dataKeys = new DataKeys({ store, masterKeys: keys, ttlMs: 100 });
    const first = await dataKeys.keyFor(9);
    await dataKeys.keyFor(9);
    expect(store.gets).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(await dataKeys.keyFor(9)).toEqual(first);
    expect(store.gets).toBe(2);
    dataKeys.forget(9);
    await dataKeys.keyFor(9);
    expect(store.gets).toBe(3);
  });

  it('keeps at most maxEntries keys, the least recently used going first', async () => {
    const store = counting(new PostgresKeyStore(pool));
    const dataKeys = new DataKeys({ store, masterKeys: master(), maxEntries: 2 });
    for (const tenantId of [11, 12, 13]) await dataKeys.keyFor(tenantId);
    await dataKeys.keyFor(13);
    expect(store.gets).toBe(3);
    await dataKeys.keyFor(11);
    expect(store.gets).toBe(4);
  });

  it('the runtime role reads and adds keys, never changes or deletes one', async () => {
    const store = new PostgresKeyStore(pool);
    const wrapped = wrapKey(randomBytes(32), 6, randomBytes(32));
    expect(await store.putIfAbsent(6, wrapped)).toEqual(wrapped);
    // A second, different key for the tenant: the first stays.
    expect(await store.putIfAbsent(6, wrapKey(randomBytes(32), 6, randomBytes(32)))).toEqual(wrapped);
    await expect(store.delete(6)).rejects.toThrow(/permission denied/);
    await expect(store.replace(6, wrapped, wrapKey(randomBytes(32), 6, randomBytes(32)))).rejects.toThrow(
      /permission denied/,
    );
    await expect(pool.query('TRUNCATE keys.data_keys')).rejects.toThrow(/permission denied/);
    expect(await new PostgresKeyStore(ownerPool).delete(6)).toBe(true);
    expect(await store.get(6)).toBeUndefined();
  });

  it('holds no tenant data, and the runtime role can make nothing there to reach any', async () => {
    const client = await pool.connect();
    try {
      const refused = (sql: string) =>
        client.query(sql).then(
          () => 'allowed',
          (e: pg.DatabaseError) => e.code,
        );
      expect(await refused('SELECT * FROM app.tenants')).toBe('42P01'); // undefined_table
      expect(await refused('CREATE TABLE public.t (x int)')).toBe('42501');
      expect(await refused('CREATE SCHEMA s')).toBe('42501');
      expect(await refused('CREATE TEMP TABLE t (x int)')).toBe('42501');
      expect(await refused('CREATE EXTENSION IF NOT EXISTS dblink')).toMatch(/^(42501|0A000|58P01)$/);
      const { rows } = await client.query(
        `SELECT n.nspname || '.' || c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')`,
      );
      expect(rows.map((r) => r.name)).toEqual(['keys.data_keys']);
    } finally {
      client.release();
    }
  });

  it('no other role connects: not the admin role, nor a dedicated tenant role', async () => {
    const refused = (url: string) =>
      withClient(url, async () => 'connected').catch((e: pg.DatabaseError) => e.message);
    const { admin } = inject('roles');
    expect(await refused(keysAs(admin.name, admin.password))).toMatch(/permission denied for database/);
    // A probe named as a dedicated tenant's role (`<NAME>_t<ID>_rw`; drop() removes it).
    const role = `${db.name}_t9_rw`;
    await withClient(db.superuserUrl, (c) =>
      c.query(`CREATE ROLE ${pg.escapeIdentifier(role)} LOGIN PASSWORD 'probe-pw'`),
    );
    expect(await refused(keysAs(role, 'probe-pw'))).toMatch(/permission denied for database/);
  });

  it('db setup brings the key store back in line: a stray grant to the runtime role is revoked', async () => {
    const [ownerRole, appRole] = [new URL(db.ownerUrl).username, new URL(db.appUrl).username];
    await withClient(db.keys.superuserUrl, (c) =>
      c.query(`GRANT UPDATE, DELETE ON keys.data_keys TO ${pg.escapeIdentifier(appRole)}`),
    );
    await ensureKeysDatabase({
      superuserUrl: db.superuserUrl,
      mainDatabase: db.name,
      roles: { owner: ownerRole, app: appRole },
    });
    const { rows } = await pool.query(
      `SELECT p AS privilege FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) p
        WHERE has_table_privilege(current_user, 'keys.data_keys', p)`,
    );
    expect(rows.map((r) => r.privilege)).toEqual(['SELECT', 'INSERT']);
  });

  it('destroyed, a key is gone for good: a new one is made, and what the old one encrypted does not decrypt', async () => {
    const keys = master();
    const owner = new DataKeys({ store: new PostgresKeyStore(ownerPool), masterKeys: keys });
    const server = new DataKeys({ store: new PostgresKeyStore(pool), masterKeys: keys });
    const before = await server.keyFor(7);
    const secret = encryptField(before, 7, 'app.members.email', 'ada@example.test');
    expect(await owner.destroy(7)).toBe(true);
    expect(await owner.destroy(7)).toBe(false);
    server.forget(7);
    const after = await server.keyFor(7);
    expect(after.equals(before)).toBe(false);
    expect(() => decryptField(after, 7, 'app.members.email', secret)).toThrow(CorruptCiphertext);
  });

  it('remembers what a key opened per tenant, column and ciphertext only, and forgets it with the key', async () => {
    const dataKeys = new DataKeys({ store: new PostgresKeyStore(pool), masterKeys: master() });
    const [key11, key12] = [await dataKeys.keyFor(41), await dataKeys.keyFor(42)];
    const of11 = new FieldEncryption(41, dataKeys, silentLogger);
    const stored = await of11.encrypt('app.members.email', 'ada@example.test');
    expect(of11.decrypt('app.members.email', stored)).toBe('ada@example.test'); // at once: the key is here
    expect(dataKeys.plaintextOf(41, 'app.members.email', stored)).toBe('ada@example.test');
    // The same ciphertext under another tenant or column is not in the memo, and does not open.
    expect(dataKeys.plaintextOf(42, 'app.members.email', stored)).toBeUndefined();
    expect(dataKeys.plaintextOf(41, 'app.members.name', stored)).toBeUndefined();
    const of12 = new FieldEncryption(42, dataKeys, silentLogger);
    expect(() => of12.decrypt('app.members.email', stored)).toThrow('Unexpected error.');
    expect(() => of11.decrypt('app.members.name', stored)).toThrow('Unexpected error.');
    expect(key12.equals(key11)).toBe(false);
    dataKeys.forget(41);
    expect(dataKeys.plaintextOf(41, 'app.members.email', stored)).toBeUndefined();
    expect(dataKeys.cachedKey(41)).toBeUndefined();
    expect(dataKeys.cachedKey(42)).toBe(key12);
    // Not yet loaded: the answer waits for the key.
    await expect(of11.decrypt('app.members.email', stored)).resolves.toBe('ada@example.test');
  });

  it('a key destroyed while it loads is not kept', async () => {
    const keys = master();
    await new DataKeys({ store: new PostgresKeyStore(pool), masterKeys: keys }).keyFor(10);
    // The first read answers before the destroy, and its answer arrives after it.
    const owner = new PostgresKeyStore(ownerPool);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let read!: () => void;
    const readDone = new Promise<void>((resolve) => (read = resolve));
    const store: KeyStore = Object.create(owner);
    store.get = async (tenantId) => {
      const found = await owner.get(tenantId);
      read();
      await gate;
      return found;
    };
    const dataKeys = new DataKeys({ store, masterKeys: keys });
    const loading = dataKeys.keyFor(10);
    await readDone;
    expect(await dataKeys.destroy(10)).toBe(true);
    release();
    const old = await loading;
    const fresh = await dataKeys.keyFor(10);
    expect(fresh.equals(old)).toBe(false);
  });

  it('opens keys under either master key during a rotation, wraps new ones under the next, refuses any other', async () => {
    const old = randomBytes(32);
    const next = randomBytes(32);
    const store = new PostgresKeyStore(pool);
    const underNext = randomBytes(32);
    const underOld = randomBytes(32);
    await store.putIfAbsent(8, wrapKey(next, 8, underNext));
    await store.putIfAbsent(14, wrapKey(old, 14, underOld));
    const rotating = new DataKeys({ store, masterKeys: { current: old, next, dev: false } });
    expect(await rotating.keyFor(8)).toEqual(underNext);
    expect(await rotating.keyFor(14)).toEqual(underOld);
    await rotating.keyFor(15);
    expect((await store.get(15))?.masterId).toBe(masterKeyId(next));

    const stale = new DataKeys({ store, masterKeys: { current: old, dev: false } });
    const refused = await stale.keyFor(8).catch((error: Error) => error);
    expect(refused).toBeInstanceOf(KeyUnavailable);
    expect((refused as Error).message).toContain(masterKeyId(next));
    expect((refused as Error).message).not.toContain(underNext.toString('hex'));
    expect((refused as Error).message).not.toContain(next.toString('base64'));
    // A wrapped key copied to another tenant's row does not open there.
    await store.putIfAbsent(16, (await store.get(14))!);
    await expect(rotating.keyFor(16)).rejects.toThrow(KeyUnavailable);
  });
});
