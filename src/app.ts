import { type GraphQLSchema, printSchema } from 'graphql';
import { createYoga, type YogaServerInstance } from 'graphql-yoga';
import { createApiKeyLookup } from './auth/api-key-principal.js';
import { useAuthentication } from './auth/plugin.js';
import type { Principal } from './auth/principal.js';
import { StreamCredentials } from './auth/stream-credentials.js';
import type { TokenVerifier } from './auth/verify.js';
import { useResponseCache } from './cache/cache-plugin.js';
import { EventBus } from './cache/events.js';
import { hashSegment } from './cache/keyspace.js';
import { type RateLimiter, useRateLimit } from './cache/rate-limit.js';
import type { ResponseCache } from './cache/response-cache.js';
import type { Config } from './config.js';
import type { Context } from './context.js';
import { type Pool, pingDatabase, poolUsage } from './db/pool.js';
import { RequestTransaction } from './db/request-transaction.js';
import { type AcquireSlot, createPoolScheduler, oneAtATimePerTenant } from './db/scheduler.js';
import { useSubscriptionTransactions } from './db/subscription-transactions.js';
import { useRequestTransaction } from './db/transaction-plugin.js';
import { maskError } from './errors.js';
import { useTenantGraphiQL } from './graphiql.js';
import { toAdminContext } from './graphql/admin/context.js';
import { adminSchema } from './graphql/admin/index.js';
import { useAdminRequestLog } from './graphql/admin/request-log.js';
import { useClientErrorCodes } from './graphql/client-error-codes.js';
import { useCompiledExecution } from './graphql/compiled-execution.js';
import { useInputGuard } from './graphql/input-guard.js';
import { limitPlugins } from './graphql/limits.js';
import { useOrderedBatches } from './graphql/ordered-batches.js';
import { RequestLoaders } from './graphql/request-loaders.js';
import { useHealth } from './health.js';
import type { Logger } from './logger.js';
import { createMetrics, type Metrics, servedPublicly, useMetricsEndpoint } from './metrics.js';
import { useObservability } from './observability.js';
import { useRequestBodyLimit } from './request-body-limit.js';
import { stateOf } from './request-state.js';
import { useEndStreamsOnShutdown } from './shutdown.js';
import { useTenancy } from './tenancy/plugin.js';
import type { TenantRegistry } from './tenancy/registry.js';
import { clientAddress } from './tenancy/request-host.js';
import type { Tenant } from './tenancy/tenants-file.js';

export interface AppDeps {
  /** The schema of tenant hosts: the product's (see product.ts). */
  schema: GraphQLSchema;
  config: Config;
  logger: Logger;
  registry: TenantRegistry;
  /** The runtime role's pool: every tenant request runs here, under RLS. */
  pool: Pool;
  /** The admin role's pool (BYPASSRLS), for the system tenant's host only; unset: that host answers 503. */
  adminPool?: Pool;
  verifier: TokenVerifier;
  /** Shares the runtime pool between tenants; see db/scheduler.ts. @default a fair scheduler from config */
  acquireSlot?: AcquireSlot;
  valkeyState?: () => string;
  /** The response cache (cache/services.ts); unset: no caching. */
  cache?: ResponseCache;
  /** Per-tenant rate limits; unset: none. */
  rateLimiter?: RateLimiter;
  /** Tenant events for subscriptions; unset: an in-process bus (one instance). */
  events?: EventBus;
  /** Open subscription streams and their credentials; unset: the app makes one. Tests pass theirs to inspect it. */
  streams?: StreamCredentials;
  shuttingDown?: () => boolean;
  /** Aborted when shutdown begins: subscription streams end cleanly. */
  shutdownSignal?: AbortSignal;
  /** The server passes its own (with process metrics); otherwise the app makes one. */
  metrics?: Metrics;
  /** Called for every SQL round trip (tests count them). */
  onQuery?: () => void;
}

export type App = YogaServerInstance<Record<string, unknown>, Context>;

export const GRAPHQL_ENDPOINT = '/graphql';
/** How long a subscription event may wait behind the tenant's earlier events. */
const EVENT_WAIT_TIMEOUT_MS = 10_000;
/** How long /readyz waits for the database's answer. */
const READY_TIMEOUT_MS = 2_000;

/** Builds the server; no env, no listen. Tests call `app.fetch(new Request(…))`. */
export function createApp(deps: AppDeps): App {
  const { config, logger } = deps;
  const metrics = deps.metrics ?? createMetrics({ tenantLabels: config.metrics.tenantLabels });
  const scheduler = createPoolScheduler({
    size: config.poolMax,
    reserve: config.poolReserve,
    waitTimeoutMs: config.poolWaitTimeoutMs,
    onShed: () => metrics.overloaded.inc(),
  });
  metrics.observeScheduler('runtime', scheduler);
  const acquireSlot = deps.acquireSlot ?? scheduler.acquire;
  metrics.observePool('runtime', poolUsage(deps.pool));
  metrics.observeRegistry(deps.registry);
  const events = deps.events ?? new EventBus(undefined, logger);
  // Streams end when their credential does: at exp, on a key's revocation, and here, on a reload.
  const streams =
    deps.streams ?? new StreamCredentials({ tenants: () => deps.registry.current, events, logger });
  deps.registry.onReload(() => streams.recheck());
  // A tenant's subscription events run one at a time, so its many subscribers never crowd out
  // its ordinary requests; each still takes its fair turn at the pool.
  const eventSlot = oneAtATimePerTenant(acquireSlot, EVENT_WAIT_TIMEOUT_MS);
  const newContext = (tenant: Tenant, principal: Principal, requestId: string, slot = acquireSlot) =>
    tenantContext(deps, slot, events, tenant, principal, requestId);
  return createYoga<Record<string, unknown>, Context>({
    // Per request: the system host gets the admin schema, every other host the tenant schema.
    // Separate schemas, so introspection on a tenant host cannot show an admin field.
    schema: ({ request }) => (stateOf(request).tenant?.kind === 'system' ? adminSchema : deps.schema),
    graphqlEndpoint: GRAPHQL_ENDPOINT,
    landingPage: false,
    // Our own GraphiQL plugin, after tenancy: see graphiql.ts.
    graphiql: false,
    batching: { limit: config.limits.maxBatch },
    // Ours, cheaper for bodies with a Content-Length: see request-body-limit.ts.
    maxRequestBodySize: false,
    logging: false,
    maskedErrors: {
      maskError: (error) =>
        maskError(error, (original) => logger.error({ err: original }, 'unexpected error')),
    },
    context: ({ request }) => buildContext(request, deps, newContext),
    plugins: [
      useObservability({ logger, metrics, graphqlEndpoint: GRAPHQL_ENDPOINT }),
      useRequestBodyLimit(),
      // Before the response cache's onParams and graphql's parser: see input-guard.ts.
      useInputGuard(),
      useMetricsEndpoint(metrics, { token: config.metrics.token, public: servedPublicly(config) }),
      useHealth({
        checkDatabase: pingDatabase(deps.pool, READY_TIMEOUT_MS),
        valkeyState: deps.valkeyState ?? (() => 'disabled'),
        shuttingDown: deps.shuttingDown ?? (() => false),
      }),
      useTenancy({
        registry: deps.registry,
        graphqlEndpoint: GRAPHQL_ENDPOINT,
        trustProxy: config.trustProxy,
        adminEnabled: deps.adminPool !== undefined,
      }),
      ...(config.production ? [] : [useTenantGraphiQL({ config, graphqlEndpoint: GRAPHQL_ENDPOINT })]),
      useAuthentication({
        verifier: deps.verifier,
        tenantClaim: config.jwt.tenantClaim,
        apiKeys: createApiKeyLookup({ pool: deps.pool, logger, acquireSlot, onQuery: deps.onQuery }),
        failures: deps.rateLimiter && {
          limiter: deps.rateLimiter,
          limit: { requests: config.authFailureLimit, perSeconds: 60 },
          clientOf: (request, req) => clientAddress(request, req, config.trustProxy),
          onRejected: () => metrics.rateLimited.inc(),
        },
      }),
      // After authentication: only requests whose credentials were accepted (or that had none)
      // spend the tenant's budget.
      ...(deps.rateLimiter ? [useRateLimit(deps.rateLimiter, () => metrics.rateLimited.inc())] : []),
      useOrderedBatches(),
      ...limitPlugins(config),
      useClientErrorCodes(),
      useAdminRequestLog(logger),
      useRequestTransaction(logger),
      useSubscriptionTransactions({
        fork: (base) => ({ ...base, ...newContext(base.tenant, base.principal, base.requestId, eventSlot) }),
        guard: streams,
      }),
      ...useCompiledExecution([deps.schema, adminSchema]),
      ...(deps.cache
        ? [
            useResponseCache({
              cache: deps.cache,
              schemaVersion: schemaVersion(deps.schema, config),
              onLookup: (result) => metrics.cacheLookups.inc({ result }),
            }),
          ]
        : []),
      ...(deps.shutdownSignal ? [useEndStreamsOnShutdown(deps.shutdownSignal)] : []),
    ],
  });
}

/**
 * Part of every response-cache key: a deploy that changes the tenant schema or the query limits
 * never serves an entry that was validated under the old ones.
 */
function schemaVersion(schema: GraphQLSchema, config: Config): string {
  return hashSegment(printSchema(schema) + JSON.stringify(config.limits));
}

function buildContext(
  request: Request,
  deps: AppDeps,
  newContext: (tenant: Tenant, principal: Principal, requestId: string) => Context,
): Context {
  const state = stateOf(request);
  const { tenant, principal } = state;
  if (!tenant || !principal) throw new Error('GraphQL reached without a resolved tenant and principal');
  const context = newContext(tenant, principal, state.requestId);
  state.transaction = context.db;
  return tenant.kind === 'system' ? toAdminContext(context, () => deps.registry.status) : context;
}

/** A context with a fresh lazy transaction and loaders: one per request, and one per subscription event. */
function tenantContext(
  deps: AppDeps,
  acquireSlot: AcquireSlot,
  events: EventBus,
  tenant: Tenant,
  principal: Principal,
  requestId: string,
): Context {
  // The system host reads every tenant, so it runs on the admin role; the tenancy plugin
  // answered 503 already if there is no admin pool.
  const system = tenant.kind === 'system';
  const transaction = new RequestTransaction(
    system ? deps.adminPool! : deps.pool,
    {
      tenantId: tenant.id,
      userId: principal.kind === 'ANONYMOUS' ? undefined : principal.subject,
      actorTenantId: principal.kind === 'SERVICE' ? principal.actorTenantId : undefined,
      statementTimeoutMs: tenant.statementTimeoutMs,
    },
    deps.logger,
    acquireSlot,
    deps.onQuery,
  );
  return { requestId, tenant, principal, db: transaction, loaders: new RequestLoaders(transaction), events };
}
