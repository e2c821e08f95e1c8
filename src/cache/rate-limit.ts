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

function decide(count: number, limit: RateLimit, remainingMs: number): Decision {
  if (count <= limit.requests) return ALLOWED;
  const seconds = remainingMs > 0 ? Math.ceil(remainingMs / 1000) : limit.perSeconds;
  return { allowed: false, retryAfterSeconds: Math.max(1, seconds) };
}

/**
 * A fixed window per tenant, shared by every instance: INCR, EXPIRE NX and PTTL in one MULTI,
 * so counting and starting the window are atomic and cost one round trip. The window starts
 * on Valkey's clock at the tenant's first request, so instances' clocks do not matter.
 * EXPIRE NX also repairs a counter that somehow lost its TTL. Valkey away: fail open.
 */
export class ValkeyRateLimiter implements RateLimiter {
  constructor(private readonly client: ValkeyClient) {}

  async consume(tenantId: number, limit: RateLimit): Promise<Decision> {
    const key = keys.rateLimit(tenantId, limit.perSeconds);
    const result = await this.client.attempt((c) =>
      replies(c.multi().incr(key).expire(key, limit.perSeconds, 'NX').pttl(key).exec()),
    );
    if (!result) return ALLOWED;
    const [count, , remainingMs] = result as [number, number, number];
    return decide(count, limit, remainingMs);
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
    return decide(window.count, limit, window.endsAt - now);
  }
}

/**
 * Counts each GraphQL request against its tenant's `rateLimit`, after the tenant is known and
 * before the token is verified or the query parsed, so a flood costs one Valkey round trip.
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
