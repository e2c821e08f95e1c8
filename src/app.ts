import { type GraphQLSchema, printSchema } from 'graphql';
import { createYoga, type YogaServerInstance } from 'graphql-yoga';
import { SessionRevocations } from './auth/session-revocations.js';
import { StreamCredentials } from './auth/stream-credentials.js';
import type { TokenVerifier } from './auth/verify.js';
import { EventBus } from './cache/events.js';
import { hashSegment } from './cache/keyspace.js';
import type { RateLimiter } from './cache/rate-limit.js';
import type { ResponseCache } from './cache/response-cache.js';
import type { Config } from './config.js';
import type { Context } from './context.js';
import type { DataKeys } from './crypto/data-keys.js';
import type { DedicatedPools } from './db/dedicated-pools.js';
import { type Pool, poolUsage } from './db/pool.js';
import { RequestTransaction } from './db/request-transaction.js';
import { createRouter } from './db/router.js';
import { type AcquireSlot, createPoolScheduler } from './db/scheduler.js';
import { maskError } from './errors.js';
import type { FastPathOutcome } from './fastpath/index.js';
import { toAdminContext } from './graphql/admin/context.js';
import { defaultAdminSchema } from './graphql/admin/index.js';
import type { Logger } from './observability/logger.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import { requestPipeline } from './pipeline/index.js';
import { stateOf } from './pipeline/state.js';
import { newContext, requestContext } from './pipeline/transactions.js';
import type { TenantRegistry } from './tenancy/registry.js';
import type { Isolation } from './tenancy/tenants-file.js';

export interface AppDeps {
  /** The schema of tenant hosts: the product's (see product.ts). */
  schema: GraphQLSchema;
  /** The schema of the system host. @default tenantql's own */
  adminSchema?: GraphQLSchema;
  config: Config;
  logger: Logger;
  registry: TenantRegistry;
  /** The runtime role's pool: every tenant request runs here, under RLS. */
  pool: Pool;
  /** The admin role's pool (BYPASSRLS), for the system tenant's host only; unset: that host answers 503. */
  adminPool?: Pool;
  /** The pools of tenants with a database of their own (SPEC §10); unset: every tenant is shared. */
  dedicated?: DedicatedPools;
  /** Where a tenant's rows are, as the database records it (tiers/tiers.ts). @default the tenants file's word */
  isolationOf?: (tenantId: number) => Isolation;
  /** A write found a tenant's rows moved elsewhere (`tenants move`): read the placements again. */
  onMoved?: (tenantId: number) => void;
  verifier: TokenVerifier;
  /** Each tenant's data key for field encryption (SPEC §12): crypto/data-keys.ts. */
  dataKeys: DataKeys;
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
  /**
   * Nested reads of table-backed types as one SQL statement each (src/fastpath/,
   * docs/performance.md); off: every request runs its resolvers. @default config.fastPath
   */
  fastPath?: boolean;
  /** Called with how the fast path took each operation of the tenant schema (tests count them). */
  onFastPath?: (outcome: FastPathOutcome) => void;
}

export type App = YogaServerInstance<Record<string, unknown>, Context>;

export const GRAPHQL_ENDPOINT = '/graphql';
/** How long a subscription event may wait behind the tenant's earlier events. */
const EVENT_WAIT_TIMEOUT_MS = 10_000;
/** Builds the server; no env, no listen. Tests call `app.fetch(new Request(…))`. */
export function createApp(deps: AppDeps): App {
  const { config, logger } = deps;
  const metrics = deps.metrics ?? createMetrics({ tenantLabels: config.metrics.tenantLabels });
  const schedulerOf = (size: number) =>
    createPoolScheduler({
      size,
      reserve: config.poolReserve,
      waitTimeoutMs: config.poolWaitTimeoutMs,
      onShed: () => metrics.overloaded.inc(),
    });
  const scheduler = schedulerOf(config.poolMax);
  metrics.observeScheduler('runtime', scheduler);
  const acquireSlot = deps.acquireSlot ?? scheduler.acquire;
  // Fast-path reads hold a connection only while PostgreSQL works: their own, smaller share
  // keeps PostgreSQL's cores from being oversubscribed (db/scheduler.ts, gateAlone).
  let aloneGate: AcquireSlot | undefined;
  if (config.fastPathConcurrency < config.poolMax) {
    const gate = schedulerOf(config.fastPathConcurrency);
    metrics.observeScheduler('fast_path', gate);
    aloneGate = gate.acquire;
  }
  metrics.observePool('runtime', poolUsage(deps.pool));
  if (deps.dedicated) {
    metrics.observePool('dedicated', deps.dedicated.usage);
    metrics.observeScheduler('dedicated', deps.dedicated.scheduler);
  }
  // A tenant's subscription events run one at a time, so its many subscribers never crowd out
  // its ordinary requests; each still takes its fair turn at the pool.
  const router = createRouter({
    pool: deps.pool,
    acquireSlot,
    aloneGate,
    adminPool: deps.adminPool,
    dedicated: deps.dedicated,
    eventWaitTimeoutMs: EVENT_WAIT_TIMEOUT_MS,
    placementOf: deps.isolationOf,
    onMoved: deps.onMoved,
  });
  metrics.observeRegistry(deps.registry);
  const events = deps.events ?? new EventBus(undefined, logger);
  // revokeSessions: each tenant's revocations, read where its rows live, news through `events`.
  const sessions = new SessionRevocations({
    route: (tenant) => router.request(tenant),
    events,
    valkeyState: deps.valkeyState ?? (() => 'in-process'),
    maxTtlSeconds: config.jwt.maxTtlSeconds,
    logger,
  });
  // Streams end when their credential does: at exp, on a key's or a session's revocation, and
  // here, on a reload.
  const streams =
    deps.streams ?? new StreamCredentials({ tenants: () => deps.registry.current, events, logger });
  streams.followSessions(sessions);
  deps.registry.onReload(() => streams.recheck());
  const adminSchema = deps.adminSchema ?? defaultAdminSchema();
  const isolationOf =
    deps.isolationOf ?? ((tenantId: number) => deps.registry.current.byId(tenantId)?.isolation ?? 'shared');
  const contextDeps = { logger, events, sessions, dataKeys: deps.dataKeys, onQuery: deps.onQuery };
  return createYoga<Record<string, unknown>, Context>({
    // Per request: the system host gets the admin schema, every other host the tenant schema.
    // Separate schemas, so introspection on a tenant host cannot show an admin field.
    schema: ({ request }) => (stateOf(request).tenant?.kind === 'system' ? adminSchema : deps.schema),
    graphqlEndpoint: GRAPHQL_ENDPOINT,
    landingPage: false,
    // Our own GraphiQL plugin, after tenancy: see pipeline/plugins/use-tenant-graphiql.ts.
    graphiql: false,
    batching: { limit: config.limits.maxBatch },
    // Ours, cheaper for bodies with a Content-Length: see pipeline/plugins/use-request-body-limit.ts.
    maxRequestBodySize: false,
    logging: false,
    maskedErrors: {
      maskError: (error) =>
        maskError(error, (original) => logger.error({ err: original }, 'unexpected error')),
    },
    context: ({ request }) => {
      const context = requestContext(request, (tenant, principal, requestId) =>
        newContext(contextDeps, router.request(tenant), tenant, principal, requestId),
      );
      if (context.tenant.kind !== 'system') return context;
      return toAdminContext(context, {
        reloadStatus: () => deps.registry.status,
        isolationOf,
        openTenantDb: (tenantId) => {
          const route = router.dedicatedRead(tenantId);
          const settings = {
            tenantId,
            userId: context.principal.kind === 'ANONYMOUS' ? undefined : context.principal.subject,
            actorTenantId: undefined,
            statementTimeoutMs: context.tenant.statementTimeoutMs,
          };
          return new RequestTransaction(route.source, settings, logger, route.acquireSlot, deps.onQuery);
        },
      });
    },
    plugins: requestPipeline({
      config,
      logger,
      metrics,
      registry: deps.registry,
      graphqlEndpoint: GRAPHQL_ENDPOINT,
      pool: deps.pool,
      adminEnabled: deps.adminPool !== undefined,
      verifier: deps.verifier,
      router,
      schemas: [deps.schema, adminSchema],
      fastPath: (deps.fastPath ?? config.fastPath) ? deps.schema : undefined,
      onFastPath: (outcome) => {
        metrics.fastPath.inc({ outcome });
        deps.onFastPath?.(outcome);
      },
      forkForEvent: (base) => ({
        ...base,
        ...newContext(contextDeps, router.event(base.tenant), base.tenant, base.principal, base.requestId),
      }),
      streams,
      sessions,
      rateLimiter: deps.rateLimiter,
      cache: deps.cache && { store: deps.cache, schemaVersion: schemaVersion(deps.schema, config) },
      valkeyState: deps.valkeyState,
      shuttingDown: deps.shuttingDown,
      shutdownSignal: deps.shutdownSignal,
      onQuery: deps.onQuery,
    }),
  });
}

/**
 * Part of every response-cache key: a deploy that changes the tenant schema or the query limits
 * never serves an entry that was validated under the old ones.
 */
function schemaVersion(schema: GraphQLSchema, config: Config): string {
  return hashSegment(printSchema(schema) + JSON.stringify(config.limits));
}
