import { z } from 'zod';
import { type MasterKeys, readMasterKeys } from './crypto/master-keys.js';

/**
 * How a user token names its tenant (JWT_TENANT_FROM, SPEC §6 "Tenant claim strategies").
 * `claim`: the claim `claim` holds a tenant id or one of the tenant's `externalIds`. `group`: the
 * array claim `groupsClaim` holds `prefix` + the tenant's subdomain. Claim names may be dotted
 * paths (auth/tenant-claim.ts readClaim).
 */
export type TenantStrategy =
  | { readonly kind: 'claim'; readonly claim: string }
  | { readonly kind: 'group'; readonly groupsClaim: string; readonly prefix: string };

/** Everything the server reads from its environment, validated once and frozen. */
export interface Config {
  readonly port: number;
  readonly host: string;
  readonly production: boolean;
  readonly logLevel: string;
  /** Unset: `npm start` runs an embedded PostgreSQL under `.data/`. */
  readonly databaseUrl: string | undefined;
  /** Unset: the system tenant's host answers 503 ADMIN_DISABLED. */
  readonly databaseAdminUrl: string | undefined;
  readonly databaseOwnerUrl: string | undefined;
  readonly valkeyUrl: string;
  /** Set: ioredis Cluster over these `host:port` nodes instead of `valkeyUrl`. */
  readonly valkeyClusterNodes: readonly string[] | undefined;
  readonly tenantsFile: string;
  readonly trustProxy: boolean;
  readonly jwt: {
    readonly secret: string | undefined;
    readonly jwksUrl: string | undefined;
    readonly issuer: string | undefined;
    readonly audience: string | undefined;
    /** JWT_TENANT_CLAIM: a service token's tenant claim always; a user token's in `claim` mode. @default tid */
    readonly tenantClaim: string;
    /** Where a user token's tenant comes from. @default { kind: 'claim', claim: tenantClaim } */
    readonly tenantStrategy: TenantStrategy;
    /** JWT_ROLES_CLAIM: a user token's roles (auth/roles.ts), a claim name or dotted path. @default roles */
    readonly rolesClaim: string;
    /**
     * JWT_MAX_TTL_SECONDS: the longest a user token may live (`exp` − `iat`, or `exp` − now
     * without `iat`); a longer one is 401. It bounds how long a revokeSessions entry must be
     * kept (auth/session-revocations.ts). @default 604800 (7 days)
     */
    readonly maxTtlSeconds: number;
    /** True when the secret is the built-in development one. */
    readonly devSecret: boolean;
  };
  readonly serviceJwt: {
    readonly secret: string | undefined;
    readonly jwksUrl: string | undefined;
    readonly devSecret: boolean;
  };
  /** Connections of the runtime pool that any one tenant may use, all of them. @default 10 */
  readonly poolMax: number;
  /**
   * Connections beyond poolMax, only for tenants below their fair share while the pool is
   * taken (see db/scheduler.ts); the runtime pool opens at most poolMax + poolReserve. @default 2
   */
  readonly poolReserve: number;
  /** How long a request waits for a connection before 503 OVERLOADED. @default 3000 */
  readonly poolWaitTimeoutMs: number;
  /**
   * Connections of all pools together: the runtime pool (poolMax + poolReserve), the admin
   * pool (2) and every dedicated tenant's pools, which share what is left (SPEC §10).
   * @default poolMax + poolReserve + 2 + 20
   */
  readonly maxConnectionsTotal: number;
  /** A dedicated tenant's idle connection closes after this long. @default 30000 */
  readonly tenantPoolIdleMs: number;
  /** TENANT_SECRETS_FILE: the dedicated tenants' credentials. @default ./.secrets/tenants.json */
  readonly tenantSecretsFile: string;
  /**
   * TENANT_MASTER_KEY (and, during a rotation, TENANT_MASTER_KEY_NEW): what wraps the tenants'
   * data keys (SPEC §12). Required in production; outside it the public development key, with a
   * warning. Logged or serialised, it shows key ids only.
   */
  readonly masterKeys: MasterKeys;
  /** Failed credentials per minute from one client address on one tenant's host. @default 1000 */
  readonly authFailureLimit: number;
  /**
   * Named (prepared) statements on the serving pools. Off: every statement is sent unnamed, for
   * a transaction-pooling proxy that does not track them (docs/pgbouncer.md). @default true
   */
  readonly preparedStatements: boolean;
  /** FAST_PATH: nested reads of table-backed types as one SQL statement (src/fastpath/). @default true */
  readonly fastPath: boolean;
  /**
   * FAST_PATH_CONCURRENCY: fast-path statements in PostgreSQL at once (plus the reserve), at most
   * the pool (db/scheduler.ts, gateAlone). @default poolMax (no gate of its own)
   */
  readonly fastPathConcurrency: number;
  /** Response cache lifetime in seconds; 0 turns the cache off. @default 30 */
  readonly cacheTtlSeconds: number;
  /** How long SIGTERM waits for requests in flight. @default 10000 */
  readonly shutdownTimeoutMs: number;
  readonly metrics: {
    /** Busiest tenants with a `tenant` label of their own; the rest are `other`. @default 20 */
    readonly tenantLabels: number;
    /** Set: /metrics requires `Authorization: Bearer <token>`. */
    readonly token: string | undefined;
    /** Set: /metrics is served only on this port (of HOST), not next to /graphql. */
    readonly port: number | undefined;
  };
  readonly limits: {
    readonly maxDepth: number;
    readonly maxAliases: number;
    readonly maxTokens: number;
    readonly maxCost: number;
    readonly maxBatch: number;
  };
}

/** Connections of the admin pool (the system host only). */
export const ADMIN_POOL_MAX = 2;
/** Connections for dedicated tenants when PG_MAX_CONNECTIONS_TOTAL is unset. */
const DEFAULT_DEDICATED_CONNECTIONS = 20;

/** What the dedicated tenants' pools may open together: the total less the shared pools. */
export function dedicatedConnections(config: Config): number {
  return config.maxConnectionsTotal - config.poolMax - config.poolReserve - ADMIN_POOL_MAX;
}

export const DEV_JWT_SECRET = 'tenantql-development-user-secret-do-not-use-in-production';
export const DEV_SERVICE_JWT_SECRET = 'tenantql-development-service-secret-do-not-use-in-production';

const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));
const url = optionalText.refine((v) => v === undefined || URL.canParse(v), 'must be a URL');
const int = (fallback: number, min: number, max: number) =>
  z.coerce.number().int().min(min).max(max).default(fallback);
const flag = z
  .enum(['0', '1', 'true', 'false'])
  .default('0')
  .transform((v) => v === '1' || v === 'true');

/** A flag that is on unless set to `0` or `false`. */
const flagOn = z
  .enum(['0', '1', 'true', 'false'])
  .default('1')
  .transform((v) => v === '1' || v === 'true');

const envSchema = z.object({
  PORT: int(4000, 0, 65535),
  HOST: z.string().min(1).default('127.0.0.1'),
  NODE_ENV: optionalText,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: url,
  DATABASE_ADMIN_URL: url,
  DATABASE_OWNER_URL: url,
  VALKEY_URL: url,
  REDIS_URL: url,
  VALKEY_CLUSTER_NODES: optionalText,
  TENANTS_FILE: z.string().min(1).default('./tenants.json'),
  TRUST_PROXY: flag,
  JWT_SECRET: optionalText,
  JWT_JWKS_URL: url,
  JWT_ISSUER: optionalText,
  JWT_AUDIENCE: optionalText,
  JWT_TENANT_CLAIM: z.string().min(1).default('tid'),
  JWT_TENANT_FROM: z.enum(['claim', 'group']).default('claim'),
  JWT_GROUPS_CLAIM: optionalText,
  JWT_TENANT_GROUP_PREFIX: optionalText,
  JWT_ROLES_CLAIM: z.string().min(1).default('roles'),
  JWT_MAX_TTL_SECONDS: int(604_800, 60, 31_536_000),
  SERVICE_JWT_SECRET: optionalText,
  SERVICE_JWKS_URL: url,
  PG_POOL_MAX: int(10, 1, 1000),
  PG_POOL_RESERVE: int(2, 0, 1000),
  PG_POOL_WAIT_TIMEOUT_MS: int(3000, 1, 600_000),
  PG_MAX_CONNECTIONS_TOTAL: z.preprocess(
    (v) => (v === undefined || String(v).trim() === '' ? undefined : v),
    z.coerce.number().int().min(1).max(100_000).optional(),
  ),
  PG_TENANT_POOL_IDLE_MS: int(30_000, 100, 3_600_000),
  TENANT_SECRETS_FILE: z.string().min(1).default('./.secrets/tenants.json'),
  AUTH_FAILURE_LIMIT: int(1000, 1, 1_000_000_000),
  PG_PREPARED_STATEMENTS: flagOn,
  FAST_PATH: flagOn,
  FAST_PATH_CONCURRENCY: z.preprocess(
    (v) => (v === undefined || String(v).trim() === '' ? undefined : v),
    z.coerce.number().int().min(1).max(1000).optional(),
  ),
  CACHE_TTL_SECONDS: int(30, 0, 86400),
  SHUTDOWN_TIMEOUT_MS: int(10_000, 0, 600_000),
  METRICS_TENANT_LABELS: int(20, 0, 1000),
  METRICS_PORT: z.preprocess(
    (v) => (v === undefined || String(v).trim() === '' ? undefined : v),
    z.coerce.number().int().min(1).max(65535).optional(),
  ),
  METRICS_TOKEN: optionalText.refine(
    (v) => v === undefined || v.length >= 16,
    'must be at least 16 characters',
  ),
  GRAPHQL_MAX_DEPTH: int(12, 1, 1000),
  GRAPHQL_MAX_ALIASES: int(30, 0, 10_000),
  GRAPHQL_MAX_TOKENS: int(5000, 1, 1_000_000),
  GRAPHQL_MAX_COST: int(50_000, 1, 100_000_000),
  GRAPHQL_MAX_BATCH: int(10, 1, 1000),
});

export type ConfigResult =
  | { ok: true; config: Config; warnings: string[] }
  | { ok: false; problems: string[] };

/** Reads the configuration from `env` (never from process.env directly) and lists every problem. */
export function readConfig(env: Record<string, string | undefined>): ConfigResult {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    return { ok: false, problems: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) };
  }
  const e = parsed.data;
  const production = e.NODE_ENV === 'production';
  const problems: string[] = [];
  const warnings: string[] = [];

  if (e.JWT_SECRET && e.JWT_JWKS_URL) problems.push('JWT_SECRET and JWT_JWKS_URL: set only one');
  if (e.SERVICE_JWT_SECRET && e.SERVICE_JWKS_URL)
    problems.push('SERVICE_JWT_SECRET and SERVICE_JWKS_URL: set only one');
  const userKeyMissing = !e.JWT_SECRET && !e.JWT_JWKS_URL;
  const serviceKeyMissing = !e.SERVICE_JWT_SECRET && !e.SERVICE_JWKS_URL;
  if (production && userKeyMissing) problems.push('JWT_SECRET or JWT_JWKS_URL: required in production');
  if (production && serviceKeyMissing)
    problems.push('SERVICE_JWT_SECRET or SERVICE_JWKS_URL: required in production');
  if (!production && userKeyMissing) warnings.push('JWT_SECRET is not set: using the development secret');
  if (!production && serviceKeyMissing)
    warnings.push('SERVICE_JWT_SECRET is not set: using the development secret');
  if (env.TENANT_POOL_SHARE !== undefined) {
    warnings.push(
      'TENANT_POOL_SHARE is no longer used: tenants share the pool fairly (see PG_POOL_RESERVE, PG_POOL_WAIT_TIMEOUT_MS)',
    );
  }
  const userSecret = e.JWT_SECRET ?? (userKeyMissing && !production ? DEV_JWT_SECRET : undefined);
  const serviceSecret =
    e.SERVICE_JWT_SECRET ?? (serviceKeyMissing && !production ? DEV_SERVICE_JWT_SECRET : undefined);
  if (userSecret !== undefined && userSecret === serviceSecret) {
    problems.push('SERVICE_JWT_SECRET: must differ from JWT_SECRET');
  }
  if (e.JWT_JWKS_URL && e.JWT_JWKS_URL === e.SERVICE_JWKS_URL) {
    problems.push('SERVICE_JWKS_URL: must differ from JWT_JWKS_URL');
  }
  // RFC 7518 §3.2: an HS256 key shorter than the hash output is open to offline guessing.
  for (const [name, secret] of [
    ['JWT_SECRET', e.JWT_SECRET],
    ['SERVICE_JWT_SECRET', e.SERVICE_JWT_SECRET],
  ]) {
    if (production && secret !== undefined && new TextEncoder().encode(secret).length < 32)
      problems.push(`${name}: must be at least 32 bytes in production`);
  }
  problems.push(...tenantStrategyProblems(e));
  const clusterNodes = e.VALKEY_CLUSTER_NODES?.split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  for (const node of clusterNodes ?? []) {
    if (!/^[^:\s]+:\d{1,5}$/.test(node)) problems.push(`VALKEY_CLUSTER_NODES: "${node}" is not host:port`);
  }
  if (e.METRICS_PORT !== undefined && e.METRICS_PORT === e.PORT) {
    problems.push('METRICS_PORT: must differ from PORT (it is a listener of its own)');
  }
  if (production && e.METRICS_PORT === undefined && e.METRICS_TOKEN === undefined) {
    warnings.push('/metrics is not served: set METRICS_PORT (a private listener) or METRICS_TOKEN');
  }
  // The runtime and admin pools come first; dedicated tenants need at least one _ro and one _rw.
  const sharedConnections = e.PG_POOL_MAX + e.PG_POOL_RESERVE + ADMIN_POOL_MAX;
  const maxConnectionsTotal = e.PG_MAX_CONNECTIONS_TOTAL ?? sharedConnections + DEFAULT_DEDICATED_CONNECTIONS;
  if (maxConnectionsTotal < sharedConnections + 2) {
    problems.push(
      `PG_MAX_CONNECTIONS_TOTAL: must be at least ${sharedConnections + 2} (PG_POOL_MAX + PG_POOL_RESERVE + ${ADMIN_POOL_MAX} for the admin pool + 2 for dedicated tenants)`,
    );
  }
  if (e.FAST_PATH_CONCURRENCY !== undefined && e.FAST_PATH_CONCURRENCY > e.PG_POOL_MAX) {
    problems.push(
      `FAST_PATH_CONCURRENCY: must be at most PG_POOL_MAX (${e.PG_POOL_MAX}): it limits how much of the pool fast-path reads use at once`,
    );
  }
  // Apart from the schema, so that each problem names the variable, never any of the value.
  const masterKeys = readMasterKeys(env, production);
  if (masterKeys.ok) warnings.push(...masterKeys.warnings);
  else problems.push(...masterKeys.problems);
  if (problems.length > 0 || !masterKeys.ok) return { ok: false, problems };

  const config: Config = {
    port: e.PORT,
    host: e.HOST,
    production,
    logLevel: e.LOG_LEVEL,
    databaseUrl: e.DATABASE_URL,
    databaseAdminUrl: e.DATABASE_ADMIN_URL,
    databaseOwnerUrl: e.DATABASE_OWNER_URL,
    valkeyUrl: e.VALKEY_URL ?? e.REDIS_URL ?? 'redis://127.0.0.1:6379',
    valkeyClusterNodes: clusterNodes,
    tenantsFile: e.TENANTS_FILE,
    trustProxy: e.TRUST_PROXY,
    jwt: {
      secret: userSecret,
      jwksUrl: e.JWT_JWKS_URL,
      issuer: e.JWT_ISSUER,
      audience: e.JWT_AUDIENCE,
      tenantClaim: e.JWT_TENANT_CLAIM,
      tenantStrategy:
        e.JWT_TENANT_FROM === 'group'
          ? {
              kind: 'group',
              groupsClaim: e.JWT_GROUPS_CLAIM ?? 'groups',
              prefix: e.JWT_TENANT_GROUP_PREFIX ?? '',
            }
          : { kind: 'claim', claim: e.JWT_TENANT_CLAIM },
      rolesClaim: e.JWT_ROLES_CLAIM,
      maxTtlSeconds: e.JWT_MAX_TTL_SECONDS,
      devSecret: userSecret === DEV_JWT_SECRET,
    },
    serviceJwt: {
      secret: serviceSecret,
      jwksUrl: e.SERVICE_JWKS_URL,
      devSecret: serviceSecret === DEV_SERVICE_JWT_SECRET,
    },
    poolMax: e.PG_POOL_MAX,
    poolReserve: e.PG_POOL_RESERVE,
    poolWaitTimeoutMs: e.PG_POOL_WAIT_TIMEOUT_MS,
    maxConnectionsTotal,
    tenantPoolIdleMs: e.PG_TENANT_POOL_IDLE_MS,
    tenantSecretsFile: e.TENANT_SECRETS_FILE,
    masterKeys: masterKeys.keys,
    authFailureLimit: e.AUTH_FAILURE_LIMIT,
    preparedStatements: e.PG_PREPARED_STATEMENTS,
    fastPath: e.FAST_PATH,
    fastPathConcurrency: e.FAST_PATH_CONCURRENCY ?? e.PG_POOL_MAX,
    cacheTtlSeconds: e.CACHE_TTL_SECONDS,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    metrics: { tenantLabels: e.METRICS_TENANT_LABELS, token: e.METRICS_TOKEN, port: e.METRICS_PORT },
    limits: {
      maxDepth: e.GRAPHQL_MAX_DEPTH,
      maxAliases: e.GRAPHQL_MAX_ALIASES,
      maxTokens: e.GRAPHQL_MAX_TOKENS,
      maxCost: e.GRAPHQL_MAX_COST,
      maxBatch: e.GRAPHQL_MAX_BATCH,
    },
  };
  return { ok: true, config: deepFreeze(config), warnings };
}

/** A claim name, or a dotted path to one: no part may be empty, and no space may surround it. */
const isClaimName = (name: string) => name.trim() === name && name.split('.').every((part) => part !== '');

/** The claim names (JWT_TENANT_CLAIM, JWT_GROUPS_CLAIM, JWT_ROLES_CLAIM), JWT_TENANT_FROM and the variables only one of its strategies reads. */
function tenantStrategyProblems(e: z.infer<typeof envSchema>): string[] {
  const problems: string[] = [];
  for (const [name, value] of [
    ['JWT_TENANT_CLAIM', e.JWT_TENANT_CLAIM],
    ['JWT_GROUPS_CLAIM', e.JWT_GROUPS_CLAIM],
    ['JWT_ROLES_CLAIM', e.JWT_ROLES_CLAIM],
  ] as const) {
    if (value !== undefined && !isClaimName(value))
      problems.push(
        `${name}: must be a claim name or a dotted path without empty parts or surrounding spaces`,
      );
  }
  if (e.JWT_TENANT_FROM === 'group') {
    if (e.JWT_TENANT_GROUP_PREFIX === undefined)
      problems.push('JWT_TENANT_GROUP_PREFIX: required with JWT_TENANT_FROM=group (e.g. tenant:)');
  } else {
    // Set for a strategy that is not on: the operator most likely forgot JWT_TENANT_FROM=group.
    for (const name of ['JWT_GROUPS_CLAIM', 'JWT_TENANT_GROUP_PREFIX'] as const) {
      if (e[name] !== undefined) problems.push(`${name}: only read with JWT_TENANT_FROM=group`);
    }
  }
  return problems;
}

function deepFreeze<T>(value: T): T {
  // A Buffer (the master keys) cannot be frozen: Object.freeze throws on a typed array's elements.
  if (value && typeof value === 'object' && !ArrayBuffer.isView(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
