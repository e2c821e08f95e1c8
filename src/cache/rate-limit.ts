import type { Plugin } from 'graphql-yoga';
import { errorResponse, rateLimited } from '../errors.js';
import { stateOf } from '../request-state.js';
import type { RateLimit } from '../tenancy/tenants-file.js';
import { replies, type ValkeyClient } from './client.js';
import { keys } from './keyspace.js';

export type Decision =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly retryAfterSeconds: number };

export interface RateLimiter {
  /** Counts one request of the tenant against `limit`. Never throws: trouble means allowed. */
  consume(tenantId: number, limit: RateLimit): Promise<Decision>;
}

const ALLOWED: Decision = { allowed: true };

function refusal(remainingMs: number): Decision {
  return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(remainingMs / 1000)) };
}

/**
 * How many requests one instance takes from Valkey at a time: 1 % of the limit (at most 100).
 * Below 200 requests a window that is 1, so small limits are exact; above, an instance may
 * hold up to 1 % of the window unused when it ends, and the tenant is refused that much early.
 */
export function leaseSize(limit: RateLimit): number {
  return Math.max(1, Math.min(100, Math.floor(limit.requests / 100)));
}

/** What this instance holds of a tenant's current window. */
interface Lease {
  /** The limit it was taken under: a reload that changes the limit makes it stale. */
  requests: number;
  /** Requests taken from Valkey and not yet used. */
  remaining: number;
  /** When the window ends, on this process's clock. */
  endsAt: number;
  /** Valkey said the window is full: refuse locally until it ends. */
  refused: boolean;
}

/**
 * A fixed window per tenant, shared by every instance. The window lives in Valkey: INCRBY,
 * EXPIRE NX and PTTL in one MULTI, so counting and starting the window are atomic and the
 * window starts on Valkey's clock, whatever the instances' clocks say. Each instance takes a
 * lease of leaseSize() requests per round trip and spends it locally, so most requests cost no
 * round trip; once Valkey says the window is full the instance refuses locally until it ends,
 * so a flood costs no round trips at all. EXPIRE NX also repairs a counter that somehow lost
 * its TTL. Valkey away: fail open.
 */
export class ValkeyRateLimiter implements RateLimiter {
  /** One per tenant and window length, like the Valkey keys: bounded by the tenants file. */
  readonly #leases = new Map<string, Lease>();
  /** The refill in flight per lease: requests finding the lease empty wait for it once. */
  readonly #refills = new Map<string, Promise<unknown>>();

  constructor(private readonly client: ValkeyClient) {}

  async consume(tenantId: number, limit: RateLimit): Promise<Decision> {
    const id = `${tenantId}/${limit.perSeconds}`;
    let waited = false;
    for (;;) {
      const lease = this.#leases.get(id);
      const now = Date.now();
      if (lease && now < lease.endsAt && lease.requests === limit.requests) {
        if (lease.refused) return refusal(lease.endsAt - now);
        if (lease.remaining > 0) {
          lease.remaining--;
          return ALLOWED;
        }
      }
      const pending = this.#refills.get(id);
      if (!pending || waited) return this.#refill(id, tenantId, limit);
      waited = true;
      await pending;
    }
  }

  /** Takes the next lease from Valkey; its first request is the caller's. */
  async #refill(id: string, tenantId: number, limit: RateLimit): Promise<Decision> {
    const key = keys.rateLimit(tenantId, limit.perSeconds);
    const size = leaseSize(limit);
    const request = this.client.attempt((c) =>
      replies(c.multi().incrby(key, size).expire(key, limit.perSeconds, 'NX').pttl(key).exec()),
    );
    this.#refills.set(id, request);
    try {
      const result = await request;
      if (!result) return ALLOWED;
      const [count, , remainingMs] = result as [number, number, number];
      const granted = Math.max(0, Math.min(size, limit.requests - (count - size)));
      const windowMs = remainingMs > 0 ? remainingMs : limit.perSeconds * 1000;
      this.#leases.set(id, {
        requests: limit.requests,
        remaining: Math.max(0, granted - 1),
        endsAt: Date.now() + windowMs,
        refused: granted === 0,
      });
      return granted > 0 ? ALLOWED : refusal(windowMs);
    } finally {
      if (this.#refills.get(id) === request) this.#refills.delete(id);
    }
  }
}

/** The in-process fallback (one instance only). One entry per tenant id from the tenants file. */
export class MemoryRateLimiter implements RateLimiter {
  readonly #windows = new Map<string, { count: number; endsAt: number }>();

  async consume(tenantId: number, limit: RateLimit): Promise<Decision> {
    const key = `${tenantId}/${limit.perSeconds}`;
    const now = Date.now();
    let window = this.#windows.get(key);
    if (!window || window.endsAt <= now) {
      window = { count: 0, endsAt: now + limit.perSeconds * 1000 };
      this.#windows.set(key, window);
    }
    window.count++;
    return window.count <= limit.requests ? ALLOWED : refusal(window.endsAt - now);
  }
}

/**
 * Counts each GraphQL request against its tenant's `rateLimit`, after the tenant is known and
 * before the token is verified or the query parsed: a flood is refused before any other work.
 */
export function useRateLimit(limiter: RateLimiter, onRejected: () => void = () => {}): Plugin {
  return {
    async onRequest({ request, endResponse }) {
      const tenant = stateOf(request).tenant;
      if (!tenant) return; // not a GraphQL request (health, metrics)
      const decision = await limiter.consume(tenant.id, tenant.rateLimit);
      if (decision.allowed) return;
      onRejected();
      endResponse(errorResponse(rateLimited(decision.retryAfterSeconds)));
    },
  };
}
