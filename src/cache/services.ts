import type { Config } from '../config.js';
import type { Logger } from '../observability/logger.js';
import { describeTarget, ValkeyClient, type ValkeyState } from './client.js';
import { EventBus } from './events.js';
import { listenForPlacements } from './placement-notices.js';
import { MemoryRateLimiter, type RateLimiter, ValkeyRateLimiter } from './rate-limit.js';
import { MemoryCacheBackend, ResponseCache, ValkeyCacheBackend } from './response-cache.js';

/** What the app takes from Valkey (or from this process when Valkey did not answer at start). */
export interface ValkeyServices {
  /** Undefined when CACHE_TTL_SECONDS is 0. */
  readonly cache: ResponseCache | undefined;
  readonly rateLimiter: RateLimiter;
  readonly events: EventBus;
  readonly state: () => ValkeyState;
  /** Calls `listener` when `tenants move` announces a switch (cache/placement-notices.ts); in-process: never. */
  onPlacementNotice(listener: (tenantId: number) => void): void;
  close(): Promise<void>;
}

/**
 * Connects to VALKEY_URL (or the VALKEY_CLUSTER_NODES cluster). If nothing answers, says so
 * in one warning line and falls back to in-process cache, rate limits and events, which are
 * right for a single instance only (SPEC §2); the process stays in that mode until restarted.
 */
export async function startValkeyServices(
  config: Pick<Config, 'valkeyUrl' | 'valkeyClusterNodes' | 'cacheTtlSeconds'>,
  logger: Logger,
): Promise<ValkeyServices> {
  const client = await ValkeyClient.connect(config, logger);
  const ttl = config.cacheTtlSeconds;
  if (!client) {
    logger.warn(
      { valkey: describeTarget(config) },
      'Valkey did not answer: using in-process cache, rate limits and events (run one instance only)',
    );
    const events = new EventBus(undefined, logger);
    return {
      cache: ttl > 0 ? new ResponseCache(new MemoryCacheBackend(), ttl) : undefined,
      rateLimiter: new MemoryRateLimiter(),
      events,
      state: () => 'in-process',
      onPlacementNotice: () => {},
      close: async () => events.close(),
    };
  }
  const events = new EventBus(client, logger);
  return {
    cache: ttl > 0 ? new ResponseCache(new ValkeyCacheBackend(client, ttl), ttl) : undefined,
    rateLimiter: new ValkeyRateLimiter(client),
    events,
    state: () => client.state(),
    onPlacementNotice: (listener) => listenForPlacements(client, listener),
    close: async () => {
      events.close();
      await client.quit();
    },
  };
}
