import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type App, createApp } from '../../src/app.js';
import { createTokenVerifier, signToken } from '../../src/auth/verify.js';
import { startValkeyServices, type ValkeyServices } from '../../src/cache/services.js';
import { type Config, readConfig } from '../../src/config.js';
import { DataKeys } from '../../src/crypto/data-keys.js';
import { createKeyStorePool, PostgresKeyStore } from '../../src/crypto/key-store.js';
import type { DedicatedPools } from '../../src/db/dedicated-pools.js';
import { createPool, type Pool } from '../../src/db/pool.js';
import { learnForeignKeys } from '../../src/db/sql-errors.js';
import { NO_SYNC_ROLE, tenantsTableSync } from '../../src/db/tenants-sync.js';
import { demoAdminSchema } from '../../src/example/admin.js';
import { demoSchema } from '../../src/example/schema.js';
import { createHttpServer } from '../../src/http/edge.js';
import { type Logger, silentLogger } from '../../src/observability/logger.js';
import { TenantRegistry } from '../../src/tenancy/registry.js';
import { followPlacements, openTiers } from '../../src/tiers/open.js';
import type { Tiers } from '../../src/tiers/tiers.js';
import { createTestDatabase, type TestDatabase } from './db.js';

export const TEST_JWT_SECRET = 'test-user-secret-0123456789abcdef';
export const TEST_SERVICE_SECRET = 'test-service-secret-0123456789abcdef';
/** TENANT_MASTER_KEY of every TestApp (required with NODE_ENV=production): base64 of 32 bytes. */
export const TEST_MASTER_KEY = Buffer.from('tenantql test master key 0123456', 'utf8').toString('base64');

/** The tenants of SPEC §4's example, plus a third regular tenant. */
export const defaultTenants = {
  baseDomain: 'localhost',
  defaults: { statementTimeoutMs: 5000, rateLimit: { requests: 600, perSeconds: 60 } },
  tenants: [
    { id: 1, subdomain: 'admin', name: 'System' },
    { id: 2, subdomain: 'tenant1', name: 'Tenant One' },
    {
      id: 3,
      subdomain: 'tenant2',
      name: 'Tenant Two',
      statementTimeoutMs: 1000,
      domains: ['graphql.tenant-two.test'],
    },
    { id: 4, subdomain: 'tenant3', name: 'Tenant Three' },
    { id: 81, subdomain: 'reports', name: 'Reports service', grants: [2, 3] },
    { id: 100, subdomain: 'acme', name: 'Acme', disabled: true },
  ],
};

export interface TestAppOptions {
  tenants?: object;
  env?: Record<string, string>;
  logger?: Logger;
  /** Rewrites the runtime pool's URL, e.g. to go through a TCP proxy the test can cut. */
  poolUrl?: (appUrl: string) => string;
  /**
   * Valkey for the response cache, rate limits and events (with `env.VALKEY_CLUSTER_NODES`,
   * a cluster). Unset: no cache, no rate limits, in-process events.
   */
  valkeyUrl?: string;
  /**
   * Where dedicated tenants' connections go (their host and port). @default the superuser's
   * (direct): PgBouncer in the `pgbouncer` project knows only the shared roles.
   */
  dedicatedBaseUrl?: string;
  /**
   * Runs after the database exists and before the server reads the tenants file: provision
   * dedicated tenants here (test/helpers/tiers.ts), as an operator does before starting.
   */
  prepare?: (db: TestDatabase, secretsFile: string) => Promise<void>;
}

export interface GraphQLResponse<T = Record<string, any>> {
  status: number;
  headers: Headers;
  body: { data?: T | null; errors?: { message: string; extensions?: { code?: string } }[] };
}

/**
 * The real app on a fresh database cloned from the migrated template, with a tenants file in a
 * temp dir. Requests go through `app.fetch` with real Host headers; `listen()` adds a socket.
 */
export class TestApp {
  queries = 0;
  /** Set when started with `valkeyUrl`. */
  valkey: ValkeyServices | undefined;
  /** Stops following placements between reloads (tiers/open.ts). */
  stopFollowing: () => void = () => {};
  /** The logger the app was started with (the socket edge logs to it too). */
  logger: Logger = silentLogger;
  /** The app's data keys (SPEC §12), from the test database's key store `<name>_keys`. */
  dataKeys!: DataKeys;
  #keysPool: Pool | undefined;
  #server: Server | undefined;

  private constructor(
    readonly app: App,
    readonly db: TestDatabase,
    readonly pool: Pool,
    readonly registry: TenantRegistry,
    readonly config: Config,
    readonly tenantsFile: string,
    private readonly dir: string,
    readonly tiers: Tiers,
    /** Dedicated tenants' pools (SPEC §10). */
    readonly dedicated: DedicatedPools,
    /** The admin role's pool (BYPASSRLS), unless the test cleared DATABASE_ADMIN_URL. */
    readonly adminPool?: Pool,
  ) {}

  /** TENANT_SECRETS_FILE of this app. */
  get secretsFile(): string {
    return this.config.tenantSecretsFile;
  }

  static async start(options: TestAppOptions = {}): Promise<TestApp> {
    const db = await createTestDatabase();
    const dir = await mkdtemp(join(tmpdir(), 'tenantql-test-'));
    const tenantsFile = join(dir, 'tenants.json');
    const secretsFile = join(dir, 'secrets', 'tenants.json');
    await writeFile(tenantsFile, JSON.stringify(options.tenants ?? defaultTenants));
    await options.prepare?.(db, secretsFile);
    const result = readConfig({
      DATABASE_URL: db.appUrl,
      DATABASE_ADMIN_URL: db.adminUrl,
      DATABASE_OWNER_URL: db.ownerUrl,
      TENANTS_FILE: tenantsFile,
      TENANT_SECRETS_FILE: secretsFile,
      JWT_SECRET: TEST_JWT_SECRET,
      SERVICE_JWT_SECRET: TEST_SERVICE_SECRET,
      TENANT_MASTER_KEY: TEST_MASTER_KEY,
      LOG_LEVEL: 'silent',
      ...(options.valkeyUrl ? { VALKEY_URL: options.valkeyUrl } : {}),
      // Behind PgBouncer in transaction mode (the `pgbouncer` project), as docs/pgbouncer.md says.
      ...(db.pgbouncer ? { PG_PREPARED_STATEMENTS: '0' } : {}),
      ...options.env,
    });
    if (!result.ok) throw new Error(result.problems.join('\n'));
    const config = result.config;
    const logger = options.logger ?? silentLogger;
    const pool = createPool({
      url: options.poolUrl?.(db.appUrl) ?? db.appUrl,
      max: config.poolMax + config.poolReserve,
      logger,
      applicationName: 'tenantql-test',
      preparedStatements: config.preparedStatements,
    });
    const adminPool = config.databaseAdminUrl
      ? createPool({
          url: config.databaseAdminUrl,
          max: 2,
          logger,
          applicationName: 'tenantql-test-admin',
          preparedStatements: config.preparedStatements,
        })
      : undefined;
    // As the server does: through the admin pool, else as the owner; never the runtime role.
    const syncTenantsTable = tenantsTableSync({ adminPool, ownerUrl: config.databaseOwnerUrl });
    if (!syncTenantsTable) throw new Error(NO_SYNC_ROLE);
    const { tiers, dedicated } = openTiers({
      config,
      adminPool,
      logger,
      baseUrl: options.dedicatedBaseUrl ?? db.superuserUrl,
    });
    const opened = await TenantRegistry.open({
      file: tenantsFile,
      logger,
      check: (next) => tiers.check(next),
      onSwap: (next, previous) => syncTenantsTable(next, previous),
    });
    if (!opened.ok) throw new Error(opened.problems.join('\n'));
    const problems = await tiers.check(opened.registry.current);
    if (problems.length > 0) throw new Error(problems.join('\n'));
    await syncTenantsTable(opened.registry.current);
    await learnForeignKeys(pool);
    const valkey = options.valkeyUrl ? await startValkeyServices(config, logger) : undefined;
    const stopFollowing = followPlacements(
      tiers,
      valkey ?? { state: () => 'in-process', onPlacementNotice: () => {} },
    );
    const keysPool = createKeyStorePool({ url: db.keys.appUrl, logger });
    const dataKeys = new DataKeys({
      store: new PostgresKeyStore(keysPool),
      masterKeys: config.masterKeys,
      logger,
    });
    let testApp: TestApp | undefined;
    const app = createApp({
      schema: demoSchema,
      adminSchema: demoAdminSchema,
      config,
      logger,
      registry: opened.registry,
      pool,
      adminPool,
      dedicated,
      isolationOf: (tenantId) => tiers.isolationOf(tenantId),
      onMoved: () => void tiers.refresh(),
      verifier: createTokenVerifier(config),
      dataKeys,
      onQuery: () => {
        if (testApp) testApp.queries++;
      },
      ...(valkey && {
        valkeyState: valkey.state,
        cache: valkey.cache,
        rateLimiter: valkey.rateLimiter,
        events: valkey.events,
      }),
    });
    testApp = new TestApp(
      app,
      db,
      pool,
      opened.registry,
      config,
      tenantsFile,
      dir,
      tiers,
      dedicated,
      adminPool,
    );
    testApp.valkey = valkey;
    testApp.dataKeys = dataKeys;
    testApp.#keysPool = keysPool;
    testApp.stopFollowing = stopFollowing;
    testApp.logger = logger;
    return testApp;
  }

  /**
   * A user token for tenant `tenantId` (HS256 with the test secret). It is the tenant's admin
   * (`roles: ["admin"]`), a user who may do everything a user could before roles existed;
   * `roles` sets the claim's value instead, and `null` leaves the claim out (the default role).
   */
  token(
    tenantId: number,
    subject = `user-${tenantId}`,
    ttl = '1h',
    extra: { secret?: string; roles?: unknown } = {},
  ): Promise<string> {
    const roles = extra.roles === undefined ? ['admin'] : extra.roles;
    return signToken({
      kind: 'user',
      secret: extra.secret ?? TEST_JWT_SECRET,
      subject,
      tenantClaim: 'tid',
      tenantId,
      ttl,
      ...(roles !== null && { claims: { roles } }),
    });
  }

  serviceToken(virtualId: number, subject = `svc-${virtualId}`): Promise<string> {
    return signToken({
      kind: 'service',
      secret: TEST_SERVICE_SECRET,
      subject,
      tenantClaim: 'tid',
      tenantId: virtualId,
      ttl: '5m',
    });
  }

  /** POST a GraphQL operation to `host` (e.g. `tenant1.localhost`). */
  async gql<T = Record<string, any>>(
    host: string,
    query: string,
    options: { token?: string; variables?: object; headers?: Record<string, string> } = {},
  ): Promise<GraphQLResponse<T>> {
    const headers: Record<string, string> = { 'content-type': 'application/json', host, ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    const response = await this.app.fetch(`http://${host}/graphql`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ query, variables: options.variables }),
    });
    return {
      status: response.status,
      headers: response.headers,
      body: (await response.json()) as GraphQLResponse<T>['body'],
    };
  }

  async writeTenants(content: object | string): Promise<void> {
    await writeFile(this.tenantsFile, typeof content === 'string' ? content : JSON.stringify(content));
  }

  /** A real socket, for the Host header paths that only a raw request can exercise. */
  async listen(): Promise<number> {
    this.#server = createHttpServer(this.app, this.logger);
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
    return (this.#server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    this.stopFollowing();
    if (this.#server) {
      this.#server.closeAllConnections();
      await new Promise((resolve) => this.#server!.close(resolve));
    }
    await this.valkey?.close();
    await this.pool.end();
    await this.adminPool?.end();
    await this.#keysPool?.end();
    await this.dedicated.end();
    await this.db.drop();
    await rm(this.dir, { recursive: true, force: true });
  }
}
