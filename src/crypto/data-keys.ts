import { LRUCache } from 'lru-cache';
import { type Logger, silentLogger } from '../observability/logger.js';
import { createKeyStorePool, type KeyStore, PostgresKeyStore } from './key-store.js';
import { masterKeyId, newDataKey, unwrapKey, type WrappedKey, wrapKey } from './key-wrap.js';
import type { MasterKeys } from './master-keys.js';

export interface DataKeysOptions {
  store: KeyStore;
  masterKeys: MasterKeys;
  /** How long an unwrapped key stays in memory. @default 5 minutes */
  ttlMs?: number;
  /** Tenants whose unwrapped key is kept at once; the least recently used goes first. @default 10,000 */
  maxEntries?: number;
  /**
   * Decrypted values remembered, across tenants, for as long as a key (ttlMs): see
   * rememberPlaintext. 0 turns the memo off. @default 50,000
   */
  maxPlaintexts?: number;
  /** Key creation and unavailable keys, by tenant and master key id: never key material. @default silentLogger */
  logger?: Logger;
}

const memoKey = (tenantId: number, column: string, stored: string) => `${tenantId}\0${column}\0${stored}`;

/** A stored key that no configured master key opens: the master key is wrong, or the row was tampered with. */
export class KeyUnavailable extends Error {
  constructor(
    readonly tenantId: number,
    readonly masterId: string,
  ) {
    super(
      `the data key of tenant ${tenantId} is wrapped by master key ${masterId}, which opens with neither TENANT_MASTER_KEY nor TENANT_MASTER_KEY_NEW`,
    );
  }
}

/**
 * Each tenant's data key, unwrapped on demand (SPEC §12): from the store, under whichever of the
 * current and the next master key wrapped it; made on first use (one per tenant, even when
 * servers race: the store keeps the first). Unwrapped keys stay in this process's memory for a
 * bounded time only — never logged, never in Valkey.
 */
export class DataKeys {
  readonly #store: KeyStore;
  readonly #masterKeys: MasterKeys;
  readonly #logger: Logger;
  readonly #cache: LRUCache<number, Buffer>;
  readonly #loading = new Map<number, Promise<Buffer>>();
  readonly #plaintexts: LRUCache<string, string> | undefined;

  constructor(options: DataKeysOptions) {
    this.#store = options.store;
    this.#masterKeys = options.masterKeys;
    this.#logger = options.logger ?? silentLogger;
    const ttl = options.ttlMs ?? 5 * 60_000;
    this.#cache = new LRUCache({ max: options.maxEntries ?? 10_000, ttl });
    const maxPlaintexts = options.maxPlaintexts ?? 50_000;
    this.#plaintexts = maxPlaintexts > 0 ? new LRUCache({ max: maxPlaintexts, ttl }) : undefined;
  }

  /** The tenant's key if this process holds it now, without waiting: the hot path of a read. */
  cachedKey(tenantId: number): Buffer | undefined {
    return this.#cache.get(tenantId);
  }

  /**
   * A memo of what the tenant's key opened here (AES-GCM costs ~4–6 µs a value in node:crypto,
   * almost all of it making the cipher context: a page of 100 emails would pay it 100 times a
   * request). Keyed by tenant, column and the ciphertext itself, so only a request that read
   * that very ciphertext from that tenant's rows finds it, and a ciphertext copied to another
   * tenant or column still has to decrypt there (and fails). In memory only, as the key is, for
   * no longer than the key; forgotten with the key (a purge, a rotation).
   */
  plaintextOf(tenantId: number, column: string, stored: string): string | undefined {
    return this.#plaintexts?.get(memoKey(tenantId, column, stored));
  }

  rememberPlaintext(tenantId: number, column: string, stored: string, plaintext: string): void {
    this.#plaintexts?.set(memoKey(tenantId, column, stored), plaintext);
  }

  /**
   * The tenant's data key; concurrent calls for one tenant share one load. Rejects with
   * KeyUnavailable. The Buffer is the cached one: read it, never change it.
   */
  keyFor(tenantId: number): Promise<Buffer> {
    // The envelope binds the id as an integer: 2.5 must not be a tenant of its own, nor tenant 2.
    if (!Number.isSafeInteger(tenantId) || tenantId <= 0)
      return Promise.reject(new RangeError(`${tenantId} is not a tenant id`));
    const cached = this.#cache.get(tenantId);
    if (cached) return Promise.resolve(cached);
    const inFlight = this.#loading.get(tenantId);
    if (inFlight) return inFlight;
    const load: Promise<Buffer> = this.#load(tenantId).then((key) => {
      // A forget() while this load ran (a purge, a rotation) wins: this key is not kept.
      if (this.#loading.get(tenantId) === load) this.#cache.set(tenantId, key);
      return key;
    });
    const settle = () => {
      if (this.#loading.get(tenantId) === load) this.#loading.delete(tenantId);
    };
    load.then(settle, settle);
    this.#loading.set(tenantId, load);
    return load;
  }

  /**
   * The tenant's data key if it has one; never makes one. For reading what another tenant (or
   * an earlier installation) wrote: an import from an export, where a new key would open nothing.
   */
  async existingKeyFor(tenantId: number): Promise<Buffer | undefined> {
    if (this.#cache.has(tenantId)) return this.keyFor(tenantId);
    const stored = await this.#store.get(tenantId);
    return stored && this.#unwrap(tenantId, stored);
  }

  /** Forgets the unwrapped key here (after a purge elsewhere, or a rotation); a load in flight is not kept. */
  forget(tenantId: number): void {
    this.#cache.delete(tenantId);
    this.#loading.delete(tenantId);
    if (this.#plaintexts) {
      const prefix = memoKey(tenantId, '', '').slice(0, -1);
      for (const key of [...this.#plaintexts.keys()])
        if (key.startsWith(prefix)) this.#plaintexts.delete(key);
    }
  }

  /**
   * Crypto-shredding: the wrapped key goes from the store, the unwrapped one from memory; true if
   * there was one. Needs a store that may delete (the owner role's, for the default store).
   */
  async destroy(tenantId: number): Promise<boolean> {
    this.forget(tenantId);
    return this.#store.delete(tenantId);
  }

  async #load(tenantId: number): Promise<Buffer> {
    const stored = (await this.#store.get(tenantId)) ?? (await this.#create(tenantId));
    return this.#unwrap(tenantId, stored);
  }

  #unwrap(tenantId: number, stored: WrappedKey): Buffer {
    const { current, next } = this.#masterKeys;
    const master = [current, ...(next ? [next] : [])].find((key) => masterKeyId(key) === stored.masterId);
    const key = master && unwrapKey(master, tenantId, stored.wrapped);
    if (!key) {
      this.#logger.error({ tenantId, masterId: stored.masterId }, 'data key unavailable');
      throw new KeyUnavailable(tenantId, stored.masterId);
    }
    return key;
  }

  /**
   * A first use. Wrapped under the next master key when one is set, so a rotation under way
   * never misses a key made after it passed. Another server may win the race: its key is used.
   */
  async #create(tenantId: number): Promise<WrappedKey> {
    const { current, next } = this.#masterKeys;
    const mine = wrapKey(next ?? current, tenantId, newDataKey());
    const stored = await this.#store.putIfAbsent(tenantId, mine);
    if (stored.wrapped.equals(mine.wrapped))
      this.#logger.info({ tenantId, masterId: mine.masterId }, 'data key created');
    return stored;
  }
}

/**
 * The default key store at `keysUrl` with DataKeys over it, for a command (provision, import,
 * encrypt-existing): `close` ends its pool.
 */
export function openDataKeys(
  keysUrl: string,
  masterKeys: MasterKeys,
  logger: Logger = silentLogger,
): { dataKeys: DataKeys; close: () => Promise<void> } {
  const pool = createKeyStorePool({ url: keysUrl, logger });
  return {
    dataKeys: new DataKeys({ store: new PostgresKeyStore(pool), masterKeys, logger }),
    close: () => pool.end(),
  };
}
