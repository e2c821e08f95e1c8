import { access, copyFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { createApp } from './app.js';
import { createTokenVerifier, signToken } from './auth/verify.js';
import { type Config, readConfig } from './config.js';
import { createPool } from './db/pool.js';
import { syncTenantsTable } from './db/tenants-sync.js';
import { loadDemoData } from './dev/demo-data.js';
import { createLogger, type Logger } from './logger.js';
import { TenantRegistry } from './tenancy/registry.js';

const TENANTS_EXAMPLE = new URL('../tenants.example.json', import.meta.url);

/**
 * `tenantql start`: the only place that touches process.* — reads the environment, builds the
 * dependencies, listens, and handles signals. Resolves with the exit code.
 */
export async function startServer(env: NodeJS.ProcessEnv): Promise<number> {
  const result = readConfig(env);
  if (!result.ok) {
    console.error(['tenantql: invalid configuration:', ...result.problems.map((p) => `  ${p}`)].join('\n'));
    return 1;
  }
  let config = result.config;
  const logger = createLogger({ level: config.logLevel, pretty: !config.production && process.stdout.isTTY });
  for (const warning of result.warnings) logger.warn(warning);

  const cleanups: (() => Promise<void>)[] = [];
  const embedded = config.databaseUrl === undefined;
  if (embedded) {
    const dev = await startDevelopmentDatabase(logger);
    cleanups.push(dev.stop);
    config = { ...config, databaseUrl: dev.urls.databaseUrl, databaseAdminUrl: dev.urls.adminUrl };
    await ensureTenantsFile(config.tenantsFile, logger);
  }

  const pool = createPool({
    url: config.databaseUrl!,
    max: config.poolMax,
    logger,
    applicationName: 'tenantql',
  });
  cleanups.unshift(() => pool.end());
  const opened = await TenantRegistry.open({
    file: config.tenantsFile,
    logger,
    onSwap: (next) => syncTenantsTable(pool, next),
  });
  if (!opened.ok) {
    console.error(
      [`tenantql: invalid tenants file ${config.tenantsFile}:`, ...opened.problems.map((p) => `  ${p}`)].join(
        '\n',
      ),
    );
    await runAll(cleanups);
    return 1;
  }
  const registry = opened.registry;
  await syncTenantsTable(pool, registry.current);
  if (embedded) await loadDemoData(pool, registry.current, logger);

  let shuttingDown = false;
  const app = createApp({
    config,
    logger,
    registry,
    pool,
    verifier: createTokenVerifier(config),
    shuttingDown: () => shuttingDown,
  });
  // requireHostHeader off: a request without Host gets our GraphQL-shaped 400, not Node's bare one.
  const server = createServer({ requireHostHeader: false }, app);
  await new Promise<void>((resolve) => server.listen(config.port, config.host, resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const firstTenant = registry.current.all().find((t) => t.kind === 'regular' && !t.disabled);
  const host = firstTenant ? `${firstTenant.subdomain}.${registry.current.baseDomain}` : config.host;
  logger.info({ url: `http://${host}:${port}/graphql` }, 'listening');
  if (!config.production) await printWelcome(config, registry, port);

  process.on('SIGHUP', () => void registry.reload());
  return new Promise<number>((resolve) => {
    const stop = async (signal: string) => {
      if (shuttingDown) {
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      shuttingDown = true;
      logger.info({ signal }, 'shutting down');
      const forced = setTimeout(() => {
        logger.warn('requests still running at the shutdown deadline; closing them');
        server.closeAllConnections();
      }, config.shutdownTimeoutMs);
      await new Promise<void>((done) => {
        server.close(() => done());
        server.closeIdleConnections();
      });
      clearTimeout(forced);
      await runAll(cleanups);
      logger.info('stopped');
      resolve(0);
    };
    process.on('SIGTERM', () => void stop('SIGTERM'));
    process.on('SIGINT', () => void stop('SIGINT'));
  });
}

async function runAll(cleanups: (() => Promise<void>)[]): Promise<void> {
  for (const cleanup of cleanups) await cleanup().catch(() => {});
}

async function startDevelopmentDatabase(logger: Logger) {
  const { startEmbeddedPostgres } = await import('./db/embedded.js');
  const { setupDatabase } = await import('./db/setup.js');
  logger.info('DATABASE_URL is not set: starting an embedded PostgreSQL under .data/');
  const pg = await startEmbeddedPostgres({ dataDir: '.data/postgres', logger });
  try {
    const urls = await setupDatabase({ superuserUrl: pg.superuserUrl, database: 'tenantql' });
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
    });
    lines.push(
      '',
      `A token for ${first.subdomain} (12 h), for the Authorization header:`,
      `  Bearer ${token}`,
    );
  }
  lines.push('', 'More tokens: npm run tenantql -- token --tenant <subdomain> --sub <user>', '');
  process.stdout.write(`${lines.join('\n')}\n`);
}
