import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { TenantLabels } from './tenant-labels.js';

export const METRICS_PATH = '/metrics';

/** What a request's series carry. `tenant` comes from `Metrics.tenantLabel`, never a raw id. */
export interface RequestLabels {
  status: string;
  /** query, mutation, subscription, batch, or none (ended before GraphQL ran). */
  operation: string;
  tenant: string;
}

export interface MetricsOptions {
  /** Tenants with a label of their own (the busiest); the rest are `other`. @default 20 */
  tenantLabels: number;
  /** Node's process metrics (CPU, memory, event loop lag); the server turns them on. @default false */
  processMetrics?: boolean;
  /** How often the busiest tenants are re-ranked, at a scrape. @default 60000 */
  rebalanceIntervalMs?: number;
}

/**
 * Prometheus metrics in a registry of their own (prom-client's global registry is never used,
 * so two apps in one process, as in tests, do not share counters). The cache and rate-limit
 * code increments `cacheLookups` and `rateLimited`; everything else is fed here.
 */
/** What metrics read of the tenant registry (tenancy/registry.ts), without depending on it. */
export interface ObservedRegistry {
  readonly current: { all(): readonly { readonly kind: string }[] };
  onReload(listener: (status: { readonly ok: boolean; readonly durationMs: number }) => void): void;
}

/** A pool's connections and waiters (db/pool.ts `poolUsage`). */
export interface PoolUsage {
  readonly total: number;
  readonly idle: number;
  readonly waiting: number;
}

export interface Metrics {
  readonly registry: Registry;
  readonly requests: Counter<keyof RequestLabels>;
  readonly requestDuration: Histogram<'operation' | 'tenant'>;
  /** `metrics.cacheLookups.inc({ result: 'hit' })` or `'miss'`. */
  readonly cacheLookups: Counter<'result'>;
  /** One per request answered 429 RATE_LIMITED. */
  readonly rateLimited: Counter<string>;
  /** One per request shed with 503 OVERLOADED (it waited its whole deadline for a connection). */
  readonly overloaded: Counter<string>;
  readonly reloads: Counter<'outcome'>;
  /** Query operations on the tenant schema by the fast path's outcome (fastpath/index.ts). */
  readonly fastPath: Counter<'outcome'>;
  /** Counts one request of the tenant and returns its bounded label. */
  tenantLabel(tenantId: number | undefined): string;
  /** Reports a pool's connections at each scrape. */
  observePool(name: string, usage: () => PoolUsage): void;
  /** Reports the requests waiting for a pool's connection slot at each scrape (db/scheduler.ts). */
  observeScheduler(name: string, scheduler: { waiting(): number }): void;
  /** Counts reloads by outcome and reports the tenant count by kind. */
  /** The tenants served (counted by kind at each scrape) and the outcome of every reload. */
  observeRegistry(registry: ObservedRegistry): void;
  /** The exposition text; re-ranks the labelled tenants first when that is due. */
  render(): Promise<string>;
}

export function createMetrics(options: MetricsOptions): Metrics {
  const registry = new Registry();
  const registers = [registry];
  const labels = new TenantLabels(options.tenantLabels);
  const rebalanceEvery = options.rebalanceIntervalMs ?? 60_000;
  let lastRebalance = performance.now();
  if (options.processMetrics) collectDefaultMetrics({ register: registry, prefix: 'tenantql_' });

  const requests = new Counter({
    name: 'tenantql_requests_total',
    help: 'GraphQL endpoint requests by HTTP status, operation type and tenant (busiest tenants only, else "other"; "none" before a tenant was resolved).',
    labelNames: ['status', 'operation', 'tenant'] as const,
    registers,
  });
  const requestDuration = new Histogram({
    name: 'tenantql_request_duration_seconds',
    help: 'Time to the response head of GraphQL endpoint requests.',
    labelNames: ['operation', 'tenant'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const cacheLookups = new Counter({
    name: 'tenantql_cache_lookups_total',
    help: 'Response cache lookups by result (hit or miss).',
    labelNames: ['result'] as const,
    registers,
  });
  const rateLimited = new Counter({
    name: 'tenantql_rate_limited_total',
    help: 'Requests rejected with 429 RATE_LIMITED.',
    registers,
  });
  const overloaded = new Counter({
    name: 'tenantql_overloaded_total',
    help: 'Requests shed with 503 OVERLOADED after waiting their whole deadline for a database connection.',
    registers,
  });
  const reloads = new Counter({
    name: 'tenantql_tenant_reloads_total',
    help: 'Reloads of the tenants file by outcome (success, or failure: the old set kept).',
    labelNames: ['outcome'] as const,
    registers,
  });
  const fastPath = new Counter({
    name: 'tenantql_fast_path_operations_total',
    help: 'Operations on the tenant schema by fast path outcome: answered (one SQL statement), declined (the resolvers answered: not compiled, or not this request), refused (PostgreSQL refused the statement, a bug: logged, the resolvers serve that text from then on).',
    labelNames: ['outcome'] as const,
    registers,
  });
  const reloadDuration = new Histogram({
    name: 'tenantql_tenant_reload_duration_seconds',
    help: 'Reloads of the tenants file: reading, validating and building the next set, and the swap.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers,
  });
  const pools = new Map<string, () => PoolUsage>();
  const schedulers = new Map<string, { waiting(): number }>();
  new Gauge({
    name: 'tenantql_db_pool_connections',
    help: 'PostgreSQL connections of each pool, in use or idle.',
    labelNames: ['pool', 'state'] as const,
    registers,
    collect() {
      for (const [name, usage] of pools) {
        const { total, idle } = usage();
        this.set({ pool: name, state: 'in_use' }, total - idle);
        this.set({ pool: name, state: 'idle' }, idle);
      }
    },
  });
  new Gauge({
    name: 'tenantql_db_pool_waiting',
    help: 'Requests waiting for a PostgreSQL connection, per pool; pool="fast_path": one-statement reads waiting at the FAST_PATH_CONCURRENCY gate, before their pool.',
    labelNames: ['pool'] as const,
    registers,
    collect() {
      // Requests wait in the scheduler for a slot, then for pg's own queue (normally empty).
      for (const [name, usage] of pools) {
        this.set({ pool: name }, usage().waiting + (schedulers.get(name)?.waiting() ?? 0));
      }
      for (const [name, scheduler] of schedulers)
        if (!pools.has(name)) this.set({ pool: name }, scheduler.waiting());
    },
  });
  let tenantRegistry: ObservedRegistry | undefined;
  new Gauge({
    name: 'tenantql_tenants',
    help: 'Tenants served, by kind.',
    labelNames: ['kind'] as const,
    registers,
    collect() {
      if (!tenantRegistry) return;
      this.reset();
      for (const tenant of tenantRegistry.current.all()) this.inc({ kind: tenant.kind });
    },
  });

  /** Drops every series of a tenant that lost its label (its traffic now counts as `other`). */
  async function removeTenant(tenant: string): Promise<void> {
    for (const metric of [requests, requestDuration] as const) {
      const seen = new Set<string>();
      for (const { labels: values } of (await metric.get()).values) {
        if (values.tenant !== tenant) continue;
        const { le: _bucket, ...series } = values as Record<string, string | number>;
        const key = JSON.stringify(series);
        if (seen.has(key)) continue;
        seen.add(key);
        metric.remove(series as Record<string, string>);
      }
    }
  }

  return {
    registry,
    requests,
    requestDuration,
    cacheLookups,
    rateLimited,
    overloaded,
    reloads,
    fastPath,
    tenantLabel: (tenantId) => (tenantId === undefined ? 'none' : labels.label(tenantId)),
    observePool: (name, pool) => void pools.set(name, pool),
    observeScheduler: (name, scheduler) => void schedulers.set(name, scheduler),
    observeRegistry(next) {
      tenantRegistry = next;
      next.onReload((status) => {
        reloads.inc({ outcome: status.ok ? 'success' : 'failure' });
        reloadDuration.observe(status.durationMs / 1000);
      });
    },
    async render() {
      if (performance.now() - lastRebalance >= rebalanceEvery) {
        lastRebalance = performance.now();
        for (const id of labels.rebalance()) await removeTenant(String(id));
      }
      return registry.metrics();
    },
  };
}

/** Who may read /metrics, and where (config.ts `metrics`). */
export interface MetricsAccess {
  /** Set: only `Authorization: Bearer <token>` may read it, wherever it is served. */
  token: string | undefined;
  /** Served on the public listener (next to /graphql)? See `servedPublicly`. */
  public: boolean;
}

/**
 * Per-tenant figures are never served anonymously to the internet (SPEC §9): in production the
 * public listener serves /metrics only with METRICS_TOKEN set; with METRICS_PORT set, only that
 * listener serves it. Outside production it stays open on the public listener, for development.
 */
export function servedPublicly(config: { production: boolean; metrics: { token?: string; port?: number } }) {
  if (config.metrics.port !== undefined) return false;
  return config.metrics.token !== undefined || !config.production;
}

/** The /metrics answer for a request bearing `authorization`. */
export async function metricsAnswer(
  metrics: Metrics,
  token: string | undefined,
  authorization: string | null,
) {
  if (token !== undefined) {
    const expected = Buffer.from(`Bearer ${token}`);
    const given = Buffer.from(authorization ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return { status: 401, type: 'text/plain; charset=utf-8', body: 'metrics token required\n' };
    }
  }
  return { status: 200, type: metrics.registry.contentType, body: await metrics.render() };
}

/**
 * The request listener of the METRICS_PORT listener: `GET /metrics` (with the token when one is
 * set), 404 for anything else. Bind it where only the scraper can reach it.
 */
export function metricsListener(metrics: Metrics, token: string | undefined) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== METRICS_PATH || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not Found\n');
      return;
    }
    metricsAnswer(metrics, token, req.headers.authorization ?? null).then(
      (answer) => res.writeHead(answer.status, { 'content-type': answer.type }).end(answer.body),
      () => res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics unavailable\n'),
    );
  };
}
