import { LRUCache } from 'lru-cache';
import type { RateLimit } from '../tenancy/tenants-file.js';
import type { ValkeyClient } from './client.js';
import { hashSegment, keys } from './keyspace.js';

export type Decision =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly retryAfterSeconds: number };

/** What a request is counted against: its tenant's budget, or a client's failed credentials. */
export type Bucket =
  | { readonly kind: 'tenant'; readonly tenantId: number }
  | { readonly kind: 'auth-failures'; readonly tenantId: number; readonly client: string };

export interface RateLimiter {
  /** Counts one request against `bucket`'s `limit`. Never throws: trouble means allowed. */
  consume(bucket: Bucket, limit: RateLimit): Promise<Decision>;
  /**
   * The refusal of a bucket this instance already knows to be full, without counting or asking
   * Valkey; undefined when it may go on (a failed credential is then counted with consume).
   */
  refusing(bucket: Bucket, limit: RateLimit): Decision | undefined;
}

const ALLOWED: Decision = { allowed: true };

function refusal(remainingMs: number): Decision {
  return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(remainingMs / 1000)) };
}

/** The Valkey key of a bucket; a client address is input, so it is hashed into the key. */
function keyOf(bucket: Bucket, windowSeconds: number): string {
  return bucket.kind === 'tenant'
    ? keys.rateLimit(bucket.tenantId, windowSeconds)
    : keys.authFailures(bucket.tenantId, hashSegment(bucket.client), windowSeconds);
}

/** The local name of a bucket's window (tenant ids are integers; addresses never contain `/`). */
function idOf(bucket: Bucket, windowSeconds: number): string {
  return bucket.kind === 'tenant'
    ? `t/${bucket.tenantId}/${windowSeconds}`
    : `f/${bucket.tenantId}/${windowSeconds}/${bucket.client}`;
}

/** A window this instance was told is full: refused locally until it ends. */
interface FullWindow {
  /** The limit it filled: a reload that raises the limit makes it stale. */
  readonly requests: number;
  /** When the window ends, on this process's clock. */
  readonly endsAt: number;
}

/**
 * Full windows remembered per instance: one per tenant, plus client addresses whose failed
 * credentials are over their limit. Addresses are attacker-supplied, so the map is bounded; a
 * forgotten address costs only a round trip on its next failure.
 */
const FULL_WINDOWS_MAX = 10_000;

/**
 * A fixed window per bucket, shared by every instance and exact under any concurrency: each
 * request is one INCR of the window's counter in Valkey (in one script with EXPIRE NX and PTTL,
 * so the window starts atomically on Valkey's clock), and it is allowed exactly when the count
 * it got is within the limit. Nothing is leased or batched, so no instance can be refused
 * while another holds unused requests, and none can run past the limit. Concurrent requests'
 * commands share socket writes (auto-pipelining). Once Valkey says a window is full, the
 * instance refuses locally until it ends, so a flood costs no round trips at all. Valkey away:
 * fail open.
 */
export class ValkeyRateLimiter implements RateLimiter {
  readonly #full = new LRUCache<string, FullWindow>({ max: FULL_WINDOWS_MAX });

  constructor(private readonly client: ValkeyClient) {}

  refusing(bucket: Bucket, limit: RateLimit): Decision | undefined {
    const id = idOf(bucket, limit.perSeconds);
    const full = this.#full.get(id);
    if (!full) return undefined;
    const remainingMs = full.endsAt - Date.now();
    if (remainingMs > 0 && full.requests === limit.requests) return refusal(remainingMs);
    this.#full.delete(id);
    return undefined;
  }

  async consume(bucket: Bucket, limit: RateLimit): Promise<Decision> {
    const refused = this.refusing(bucket, limit);
    if (refused) return refused;
    const key = keyOf(bucket, limit.perSeconds);
    const result = await this.client.attempt((c) => c.countWindow(key, limit.perSeconds));
    if (!result) return ALLOWED;
    const [count, remainingMs] = result;
    if (count <= limit.requests) return ALLOWED;
    const windowMs = remainingMs > 0 ? remainingMs : limit.perSeconds * 1000;
    this.#full.set(idOf(bucket, limit.perSeconds), {
      requests: limit.requests,
      endsAt: Date.now() + windowMs,
    });
    return refusal(windowMs);
  }
}

/**
 * The in-process fallback (one instance only). Tenant windows are bounded by the tenants file;
 * client windows by an LRU, so a flood of addresses cannot grow memory (nor evict a tenant's).
 */
export class MemoryRateLimiter implements RateLimiter {
  readonly #tenants = new Map<string, { count: number; endsAt: number }>();
  readonly #clients = new LRUCache<string, { count: number; endsAt: number }>({ max: FULL_WINDOWS_MAX });

  #window(bucket: Bucket, limit: RateLimit) {
    const id = idOf(bucket, limit.perSeconds);
    const windows = bucket.kind === 'tenant' ? this.#tenants : this.#clients;
    let window = windows.get(id);
    const now = Date.now();
    if (!window || window.endsAt <= now) {
      window = { count: 0, endsAt: now + limit.perSeconds * 1000 };
      windows.set(id, window);
    }
    return window;
  }

  refusing(bucket: Bucket, limit: RateLimit): Decision | undefined {
    const window = this.#window(bucket, limit);
    // Over, not at, the limit: as with Valkey, a bucket is refused once a request was refused.
    return window.count > limit.requests ? refusal(window.endsAt - Date.now()) : undefined;
  }

  async consume(bucket: Bucket, limit: RateLimit): Promise<Decision> {
    const window = this.#window(bucket, limit);
    window.count++;
    return window.count <= limit.requests ? ALLOWED : refusal(window.endsAt - Date.now());
  }
}
