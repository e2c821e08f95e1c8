import type { Plugin } from 'graphql-yoga';
import type { Bucket, RateLimiter } from '../../cache/rate-limit.js';
import { errorResponse, rateLimited } from '../../errors.js';
import { stateOf } from '../state.js';

/**
 * Counts each GraphQL request against its tenant's `rateLimit`, once its credentials were
 * accepted (or it has none): requests whose credentials fail are limited apart, per client
 * address (use-authentication.ts), so a stranger cannot spend a tenant's budget.
 *
 * A window this instance knows to be full refuses at once, before any GraphQL work. Otherwise
 * the count goes to Valkey and the request goes on while it is in flight: nothing runs before
 * the verdict (the params handler — parse, validate, execute — waits for it), but a cache
 * lookup may be in flight at the same time (use-response-cache.ts awaits both), so a hit costs one
 * Valkey round trip, not two. A refusal is 429 RATE_LIMITED with Retry-After.
 */
export function useRateLimit(limiter: RateLimiter, onRejected: () => void = () => {}): Plugin {
  return {
    onRequest({ request, endResponse }) {
      const state = stateOf(request);
      const { tenant, principal } = state;
      if (!tenant || !principal) return; // not a GraphQL request (health, metrics), or already answered
      const bucket: Bucket = { kind: 'tenant', tenantId: tenant.id };
      const full = limiter.refusing(bucket, tenant.rateLimit);
      if (full && !full.allowed) {
        onRejected();
        return endResponse(errorResponse(rateLimited(full.retryAfterSeconds)));
      }
      state.admission = limiter.consume(bucket, tenant.rateLimit).then((decision) => {
        if (decision.allowed) return undefined;
        onRejected();
        return rateLimited(decision.retryAfterSeconds);
      });
    },
    onParams({ request, paramsHandler, setParamsHandler }) {
      const { admission } = stateOf(request);
      if (!admission) return;
      setParamsHandler(async (payload) => {
        const refused = await admission;
        return refused ? { errors: [refused] } : paramsHandler(payload);
      });
    },
  };
}
