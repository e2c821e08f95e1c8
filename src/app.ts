import { createYoga, type YogaServerInstance } from 'graphql-yoga';
import { useAuthentication } from './auth/plugin.js';
import type { TokenVerifier } from './auth/verify.js';
import type { Config } from './config.js';
import type { Context } from './context.js';
import type { Pool } from './db/pool.js';
import { type AcquireSlot, RequestTransaction } from './db/request-transaction.js';
import { useRequestTransaction } from './db/transaction-plugin.js';
import { maskError } from './errors.js';
import { useClientErrorCodes } from './graphql/client-error-codes.js';
import { tenantSchema } from './graphql/index.js';
import { limitPlugins } from './graphql/limits.js';
import { Loaders } from './graphql/loaders.js';
import { useHealth } from './health.js';
import type { Logger } from './logger.js';
import { stateOf } from './request-state.js';
import { createTenantConcurrency } from './tenancy/concurrency.js';
import { useTenancy } from './tenancy/plugin.js';
import type { TenantRegistry } from './tenancy/registry.js';

export interface AppDeps {
  config: Config;
  logger: Logger;
  registry: TenantRegistry;
  /** The runtime role's pool: every tenant request runs here, under RLS. */
  pool: Pool;
  verifier: TokenVerifier;
  /** Per-tenant share of the pool; see tenancy/concurrency.ts. */
  acquireSlot?: AcquireSlot;
  valkeyState?: () => string;
  shuttingDown?: () => boolean;
  /** Called for every SQL round trip (tests count them). */
  onQuery?: () => void;
}

export type App = YogaServerInstance<Record<string, unknown>, Context>;

export const GRAPHQL_ENDPOINT = '/graphql';

/** Builds the server; no env, no listen. Tests call `app.fetch(new Request(…))`. */
export function createApp(deps: AppDeps): App {
  const { config, logger } = deps;
  const acquireSlot =
    deps.acquireSlot ??
    createTenantConcurrency({ perTenant: Math.max(1, Math.ceil(config.poolMax * config.tenantPoolShare)) });
  return createYoga<Record<string, unknown>, Context>({
    schema: tenantSchema,
    graphqlEndpoint: GRAPHQL_ENDPOINT,
    landingPage: false,
    graphiql: config.production ? false : { title: 'tenantql' },
    batching: { limit: config.limits.maxBatch },
    logging: false,
    maskedErrors: {
      maskError: (error) =>
        maskError(error, (original) => logger.error({ err: original }, 'unexpected error')),
    },
    context: ({ request }) => buildContext(request, deps, acquireSlot),
    plugins: [
      useHealth({
        checkDatabase: async () => void (await deps.pool.query('SELECT 1')),
        valkeyState: deps.valkeyState ?? (() => 'disabled'),
        shuttingDown: deps.shuttingDown ?? (() => false),
      }),
      useTenancy({
        registry: deps.registry,
        graphqlEndpoint: GRAPHQL_ENDPOINT,
        trustProxy: config.trustProxy,
        adminEnabled: config.databaseAdminUrl !== undefined,
      }),
      useAuthentication({ verifier: deps.verifier, tenantClaim: config.jwt.tenantClaim }),
      ...limitPlugins(config),
      useClientErrorCodes(),
      useRequestTransaction(logger),
    ],
  });
}

function buildContext(request: Request, deps: AppDeps, acquireSlot: AcquireSlot): Context {
  const state = stateOf(request);
  const { tenant, principal } = state;
  if (!tenant || !principal) throw new Error('GraphQL reached without a resolved tenant and principal');
  const transaction = new RequestTransaction(
    deps.pool,
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
  state.transaction = transaction;
  return {
    requestId: state.requestId,
    tenant,
    principal,
    db: transaction,
    loaders: new Loaders(transaction),
  };
}
