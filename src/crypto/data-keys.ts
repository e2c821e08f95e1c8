import { LRUCache } from 'lru-cache';
import type { KeyStore } from './key-store.js';
import { masterKeyId, newDataKey, unwrapKey, wrapKey } from './key-wrap.js';
import type { MasterKeys } from './master-keys.js';

export interface DataKeysOptions {
  store: KeyStore;
  masterKeys: MasterKeys;
  /** How long an unwrapped key stays in memory. @default 5 minutes */
  ttlMs?: number;
  /** @default 10,000 tenants */
  maxEntries?: number;
}

/** A stored key that no configured master key opens: the master key is wrong, or the row was tampered with. */
export class KeyUnavailable extends Error {}

/**
 * Each tenant's data key, unwrapped on demand (SPEC §12): from the store, under whichever of the
 * current and the next master key wrapped it; made on first use (one per tenant, even when
 * servers race: the store keeps the first). Unwrapped keys stay in this process's memory for a
 * bounded time only — never logged, never in Valkey.
 */
export class DataKeys {
  readonly #store: KeyStore;
  readonly #masterKeys: MasterKeys;
  readonly #cache: LRUCache<number, Buffer>;
  readonly #loading = new Map<number, Promise<Buffer>>();

  constructor(options: DataKeysOptions) {
    this.#store = options.store;
    this.#masterKeys = options.masterKeys;
    this.#cache = new LRUCache({ max: options.maxEntries ?? 10_000, ttl: options.ttlMs ?? 5 * 60_000 });
  }

  keyFor(tenantId: number): Promise<Buffer> {
    const cached = this.#cache.get(tenantId);
    if (cached) return Promise.resolve(cached);
    let loading = this.#loading.get(tenantId);
    if (!loading) {
      loading = this.#load(tenantId).finally(() => this.#loading.delete(tenantId));
      this.#loading.set(tenantId, loading);
    }
    return loading;
  }

  /** Forgets the unwrapped key here (after a purge elsewhere, or a rotation). */
  forget(tenantId: number): void {
    this.#cache.delete(tenantId);
  }

  /** Crypto-shredding: the wrapped key goes from the store, the unwrapped one from memory. */
  async destroy(tenantId: number): Promise<boolean> {
    this.forget(tenantId);
    return this.#store.delete(tenantId);
  }

  async #load(tenantId: number): Promise<Buffer> {
    const stored =
      (await this.#store.get(tenantId)) ??
      (await this.#store.putIfAbsent(tenantId, wrapKey(this.#masterKeys.current, tenantId, newDataKey())));
    const { current, next } = this.#masterKeys;
    const master = [current, ...(next ? [next] : [])].find((key) => masterKeyId(key) === stored.masterId);
    const key = master && unwrapKey(master, tenantId, stored.wrapped);
    if (!key) {
      throw new KeyUnavailable(
        `the data key of tenant ${tenantId} is wrapped by master key ${stored.masterId}, which is not configured (TENANT_MASTER_KEY, TENANT_MASTER_KEY_NEW)`,
      );
    }
    this.#cache.set(tenantId, key);
    return key;
  }
}
