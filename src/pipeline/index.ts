import type { GraphQLSchema } from 'graphql';
import type { YogaServerOptions } from 'graphql-yoga';
import { createApiKeyLookup } from '../auth/api-key-principal.js';
import type { SessionRevocations } from '../auth/session-revocations.js';
import type { StreamGuard } from '../auth/stream-credentials.js';
import type { TokenVerifier } from '../auth/verify.js';
import type { RateLimiter } from '../cache/rate-limit.js';
import type { ResponseCache } from '../cache/response-cache.js';
import type { Config } from '../config.js';
import type { Context } from '../context.js';
import { type Pool, pingDatabase } from '../db/pool.js';
import type { Router } from '../db/router.js';
import type { FastPathOutcome } from '../fastpath/index.js';
import type { Logger } from '../observability/logger.js';
import { type Metrics, servedPublicly } from '../observability/metrics.js';
import type { TenantRegistry } from '../tenancy/registry.js';
import { clientAddress } from '../tenancy/request-host.js';
import { useAdminRequestLog } from './plugins/use-admin-request-log.js';
import { useAuthentication } from './plugins/use-authentication.js';
import { useClientErrorCodes } from './plugins/use-client-error-codes.js';
import { useCompiledExecution } from './plugins/use-compiled-execution.js';
import { useEndStreamsOnShutdown } from './plugins/use-end-streams-on-shutdown.js';
import { useFastPath } from './plugins/use-fast-path.js';
import { READY_TIMEOUT_MS, useHealth } from './plugins/use-health.js';
import { useInputGuard } from './plugins/use-input-guard.js';
import { limitPlugins } from './plugins/use-limits.js';
import { useMetricsEndpoint } from './plugins/use-metrics-endpoint.js';
import { useObservability } from './plugins/use-observability.js';
import { useOrderedBatches } from './plugins/use-ordered-batches.js';
import { useRateLimit } from './plugins/use-rate-limit.js';
import { useRequestBodyLimit } from './plugins/use-request-body-limit.js';
import { useResponseCache } from './plugins/use-response-cache.js';
import { useTenancy } from './plugins/use-tenancy.js';
import { useTenantGraphiQL } from './plugins/use-tenant-graphiql.js';
import { useRequestTransaction, useSubscriptionTransactions } from './transactions.js';

/** Plugins of every context type, as createYoga takes them. */
type Plugins = NonNullable<YogaServerOptions<Record<string, unknown>, Context>['plugins']>;

export interface PipelineDeps {
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly registry: TenantRegistry;
  readonly graphqlEndpoint: string;
  /** The runtime pool: readiness pings it. */
  readonly pool: Pool;
  readonly adminEnabled: boolean;
  readonly verifier: TokenVerifier;
  /** Where each tenant's transactions run: API keys are looked up there. */
  readonly router: Router;
  /** Every schema served (the product's, the admin host's): compiled execution knows them. */
  readonly schemas: readonly GraphQLSchema[];
  /** Nested reads of this schema (the tenant schema) take the fast path (src/fastpath/); unset: none do. */
  readonly fastPath?: GraphQLSchema;
  readonly onFastPath?: (outcome: FastPathOutcome) => void;
  /** A subscription event's context: `base` with a fresh transaction of its own. */
  readonly forkForEvent: (base: Context) => Context;
  readonly streams: StreamGuard;
  /** revokeSessions' revocations, as this instance knows them. */
  readonly sessions: SessionRevocations;
  readonly rateLimiter?: RateLimiter;
  readonly cache?: { readonly store: ResponseCache; readonly schemaVersion: string };
  readonly valkeyState?: () => string;
  readonly shuttingDown?: () => boolean;
  readonly shutdownSignal?: AbortSignal;
  readonly onQuery?: () => void;
}

/**
 * Every yoga plugin of a request, in the order they run; the order is the design. Each step
 * may answer the request itself (and the later ones never see it) or write what it decided
 * into the request's state (state.ts), which the later steps read.
 */
export function requestPipeline(deps: PipelineDeps): Plugins {
  const { config, logger, metrics, graphqlEndpoint } = deps;
  return [
    // 1. A request id, the access log line and the request metrics, for every answer below.
    useObservability({ logger, metrics, graphqlEndpoint }),
    // 2. Bodies over 1 MiB answer 413 before anything reads them.
    useRequestBodyLimit(),
    // 3. NUL characters, unpaired surrogates and deep nesting answer 400, before the response
    //    cache's onParams and graphql's parser see the text.
    useInputGuard(),
    // 4. /metrics and /healthz, /readyz: on any host, naming no tenant.
    useMetricsEndpoint(metrics, { token: config.metrics.token, public: servedPublicly(config) }),
    useHealth({
      checkDatabase: pingDatabase(deps.pool, READY_TIMEOUT_MS),
      valkeyState: deps.valkeyState ?? (() => 'disabled'),
      shuttingDown: deps.shuttingDown ?? (() => false),
    }),
    // 5. The tenant, from the Host header alone: unknown 404, disabled 403, the system host
    //    503 without an admin pool. Everything after this knows its tenant.
    useTenancy({
      registry: deps.registry,
      graphqlEndpoint,
      trustProxy: config.trustProxy,
      adminEnabled: deps.adminEnabled,
    }),
    // 6. GraphiQL for browsers (development only), once the tenant is known.
    ...(config.production ? [] : [useTenantGraphiQL({ config, graphqlEndpoint })]),
    // 7. The principal: a user or service token (not one revokeSessions revoked), an API key, or
    //    anonymous; failed credentials are limited per client address, apart from the tenant's budget.
    useAuthentication({
      verifier: deps.verifier,
      tenantClaim: config.jwt.tenantClaim,
      tenantStrategy: config.jwt.tenantStrategy,
      rolesClaim: config.jwt.rolesClaim,
      isRevoked: (tenant, subject, issuedAt) => deps.sessions.isRevoked(tenant, subject, issuedAt),
      apiKeys: createApiKeyLookup({
        route: (tenant) => deps.router.request(tenant),
        logger,
        onQuery: deps.onQuery,
      }),
      failures: deps.rateLimiter && {
        limiter: deps.rateLimiter,
        limit: { requests: config.authFailureLimit, perSeconds: 60 },
        clientOf: (request, req) => clientAddress(request, req, config.trustProxy),
        onRejected: () => metrics.rateLimited.inc(),
      },
    }),
    // 8. The tenant's rate limit: only requests whose credentials were accepted (or that had
    //    none) spend its budget; the count is in flight while the cache looks up (step 15).
    ...(deps.rateLimiter ? [useRateLimit(deps.rateLimiter, () => metrics.rateLimited.inc())] : []),
    // 9. A batch with a mutation runs its operations one after another.
    useOrderedBatches(),
    // 10. Depth, cost, aliases, tokens, directives; no field suggestions in production.
    ...limitPlugins(config),
    // 11. The client's own mistakes keep their codes through yoga's masking.
    useClientErrorCodes(),
    // 12. The system host logs every admin operation.
    useAdminRequestLog(logger),
    // 13. The request transaction: writable for mutations only, committed or rolled back at
    //     the end; a subscription gets one per event, and ends with its credential.
    useRequestTransaction(logger),
    useSubscriptionTransactions({ fork: deps.forkForEvent, guard: deps.streams }),
    // 14. Execution compiled by graphql-jit, once per document.
    ...useCompiledExecution(deps.schemas),
    // 14b. A query of table-backed types is one SQL statement that writes the response body,
    //      sent with BEGIN, the settings and COMMIT in one round trip; anything it cannot
    //      answer exactly as the resolvers would runs on them.
    ...(deps.fastPath
      ? [
          useFastPath({
            schema: deps.fastPath,
            pool: deps.pool,
            logger,
            prepared: config.preparedStatements,
            onOutcome: deps.onFastPath,
          }),
        ]
      : []),
    // 15. The response cache: a hit is served as the stored bytes, after the rate limit's verdict.
    ...(deps.cache
      ? [
          useResponseCache({
            cache: deps.cache.store,
            schemaVersion: deps.cache.schemaVersion,
            onLookup: (result) => metrics.cacheLookups.inc({ result }),
          }),
        ]
      : []),
    // 16. At shutdown, open streams end with their `complete` event.
    ...(deps.shutdownSignal ? [useEndStreamsOnShutdown(deps.shutdownSignal)] : []),
  ];
}
