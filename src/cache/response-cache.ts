import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { replies, type ValkeyClient } from './client.js';
import { fields, keys, values } from './keyspace.js';

/**
 * Where entries live: Valkey (shared by every instance) or this process (the fallback when
 * Valkey did not answer at start). Both keep, per tenant, a generation and the entries.
 */
export interface CacheBackend {
  /** The tenant's generation and the raw entry, in one round trip; undefined when unavailable. */
  read(
    tenantId: number,
    field: string,
  ): Promise<{ generation: number | undefined; raw: Buffer | null } | undefined>;
  /** `raw` is an encoded entry (keyspace.ts), as the bytes to keep. */
  write(tenantId: number, field: string, raw: Buffer, ttlSeconds: number): Promise<void>;
  /** Moves the generation on (hiding every entry) and drops the entries; false if it could not. */
  invalidate(tenantId: number): Promise<boolean>;
}

/** A hit is the response body as it was sent; a miss may offer to store the one about to be sent. */
export type Lookup =
  | { readonly hit: true; readonly body: Buffer }
  | { readonly hit: false; readonly store?: (body: string) => void };

/** Entries above this size are not cached: one response must not fill a tenant's share of memory. */
const MAX_ENTRY_BYTES = 512 * 1024;
const MISS_NO_STORE: Lookup = { hit: false };

/**
 * The response cache. An entry records the generation read *before* the query ran; it is a
 * hit only while the tenant's generation is unchanged. A mutation's commit bumps the
 * generation, so a query that raced a mutation stores an entry nobody will read, and the
 * hit path stays one round trip (GET generation + HGET of the entry, or only of its tag when
 * this instance holds a copy; both in the tenant's slot). A copy whose tag changed costs a
 * second round trip, once, to read the new entry.
 */
export class ResponseCache {
  /** Tenants whose invalidation failed (Valkey was away): no reads or writes until it succeeds. */
  readonly #dirty = new Set<number>();

  constructor(
    private readonly backend: CacheBackend,
    readonly ttlSeconds: number,
  ) {}

  async lookup(tenantId: number, field: string): Promise<Lookup> {
    if (this.#dirty.has(tenantId)) {
      if (!(await this.backend.invalidate(tenantId))) return MISS_NO_STORE;
      this.#dirty.delete(tenantId);
    }
    const read = await this.backend.read(tenantId, field);
    if (!read || read.generation === undefined) return MISS_NO_STORE;
    const generation = read.generation;
    const entry = values.decodeCacheEntry(read.raw, tenantId);
    if (entry && entry.g === generation) return { hit: true, body: entry.body };
    return {
      hit: false,
      store: (body) => {
        // Encoded once: the same bytes go to Valkey and into this instance's copy.
        const raw = Buffer.from(values.encodeCacheEntry(tenantId, generation, body));
        if (raw.length <= MAX_ENTRY_BYTES) void this.backend.write(tenantId, field, raw, this.ttlSeconds);
      },
    };
  }

  /** After a committed mutation. If Valkey is away, the tenant bypasses the cache until it is back. */
  async invalidate(tenantId: number): Promise<void> {
    if (!(await this.backend.invalidate(tenantId))) this.#dirty.add(tenantId);
  }
}

/** Bounds the bytes of entries this instance keeps a copy of (see ValkeyCacheBackend). */
const LOCAL_COPIES_MAX_BYTES = 64 * 1024 * 1024;

/**
 * Valkey layout per tenant: `{t<ID>}:cache:gen` (counter, no TTL) and `{t<ID>}:cache:entries`
 * (a hash). The hash gets its TTL when created (EXPIRE NX), so no entry outlives the TTL and a
 * tenant's entries cannot grow without bound; a mutation deletes the hash with the bump.
 *
 * Each entry has a random tag beside it in the hash (`<field>:tag`), and this instance keeps a
 * copy of the entries it wrote or read, with their tags. When it holds a copy, a read asks
 * Valkey for the generation and the tag only (a few bytes instead of the whole body) and uses
 * the copy if the tag is still the one in Valkey: the copy is then byte for byte what Valkey
 * holds, so Valkey stays the only authority (an invalidation, expiry, flush or another
 * instance's newer entry all change or remove the tag).
 */
export class ValkeyCacheBackend implements CacheBackend {
  readonly #copies: LRUCache<string, { raw: Buffer; tag: string }>;

  constructor(
    private readonly client: ValkeyClient,
    ttlSeconds: number,
  ) {
    this.#copies = new LRUCache({
      maxSize: LOCAL_COPIES_MAX_BYTES,
      sizeCalculation: (copy) => copy.raw.length + copy.tag.length,
      ttl: ttlSeconds * 1000,
    });
  }

  async read(tenantId: number, field: string) {
    const generationKey = keys.cacheGeneration(tenantId);
    const entries = keys.cacheEntries(tenantId);
    const tagField = fields.cacheTag(field);
    const copyKey = `${tenantId} ${field}`;
    const copy = this.#copies.get(copyKey);
    if (copy) {
      // Commands issued together go out in one batch (auto-pipelining): one round trip.
      const result = await this.client.attempt((c) =>
        Promise.all([c.get(generationKey), c.hget(entries, tagField)]),
      );
      if (!result) return undefined;
      const [generation, tag] = result;
      if (tag === copy.tag) return { generation: values.decodeCounter(generation), raw: copy.raw };
      this.#copies.delete(copyKey);
    }
    const result = await this.client.attempt((c) =>
      Promise.all([c.get(generationKey), c.hmgetBuffer(entries, field, tagField)]),
    );
    if (!result) return undefined;
    const [generation, [raw, tag]] = result as [string | null, [Buffer | null, Buffer | null]];
    if (raw && tag) this.#copies.set(copyKey, { raw, tag: tag.toString() });
    return { generation: values.decodeCounter(generation), raw };
  }

  async write(tenantId: number, field: string, raw: Buffer, ttlSeconds: number): Promise<void> {
    const entries = keys.cacheEntries(tenantId);
    const tag = randomBytes(9).toString('base64url');
    const written = await this.client.attempt((c) =>
      replies(
        c
          .multi()
          .hset(entries, field, raw, fields.cacheTag(field), tag)
          .expire(entries, ttlSeconds, 'NX')
          .exec(),
      ),
    );
    if (written) this.#copies.set(`${tenantId} ${field}`, { raw, tag });
  }

  async invalidate(tenantId: number): Promise<boolean> {
    const result = await this.client.attempt((c) =>
      replies(c.multi().incr(keys.cacheGeneration(tenantId)).del(keys.cacheEntries(tenantId)).exec()),
    );
    return result !== undefined;
  }
}

/** The in-process fallback: a bounded map, oldest entry evicted first. */
export class MemoryCacheBackend implements CacheBackend {
  readonly #generations = new Map<number, number>();
  readonly #entries = new Map<string, { raw: Buffer; expiresAt: number }>();

  constructor(private readonly maxEntries = 1_000) {}

  async read(tenantId: number, field: string) {
    const key = `${tenantId}/${field}`;
    const entry = this.#entries.get(key);
    if (entry && entry.expiresAt <= Date.now()) this.#entries.delete(key);
    const live = entry && entry.expiresAt > Date.now() ? entry.raw : null;
    return { generation: this.#generations.get(tenantId) ?? 0, raw: live };
  }

  async write(tenantId: number, field: string, raw: Buffer, ttlSeconds: number): Promise<void> {
    const key = `${tenantId}/${field}`;
    this.#entries.delete(key);
    this.#entries.set(key, { raw, expiresAt: Date.now() + ttlSeconds * 1000 });
    if (this.#entries.size > this.maxEntries) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
  }

  async invalidate(tenantId: number): Promise<boolean> {
    this.#generations.set(tenantId, (this.#generations.get(tenantId) ?? 0) + 1);
    return true;
  }
}
