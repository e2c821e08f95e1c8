import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../src/db/embedded.js';
import {
  BIG_TENANT_COUNT,
  perTenant,
  QUERIES,
  type Tokens,
  tenantsFile,
  userTokens,
  writeJsonAtomically,
  writeMix,
  writeRequests,
} from './fixtures.js';
import { POSTGRAPHILE_SERVER } from './postgraphile-server.js';
import { type Child, spawnNode } from './processes.js';
import { SHAPE, sampleIds, seed, seededTenantIds } from './seed.js';
import { MEMBER_LISTING, seedMemberListing } from './seed-members.js';
import { type Postgres, startPostgres, startValkey, type Valkey } from './services.js';

/** Scratch files (tenants files, request lists, server logs, profiles); .data/ is gitignored. */
export const WORK_DIR = resolve('.data/bench');
export const POOL_MAX = 10;
/** The pool of every server, tenantql's and P's: POOL_MAX unless BENCH_SERVER_PG_POOL_MAX says otherwise. */
export const serverPoolOf = (env: NodeJS.ProcessEnv) => Number(env.BENCH_SERVER_PG_POOL_MAX ?? POOL_MAX);
/**
 * FAST_PATH_CONCURRENCY of every tenantql server: one fast-path statement per core and one on
 * the wire, at most the pool. PostgreSQL shares this machine's cores with the server and wrk;
 * with fast-path reads on the whole pool, a dozen statements shared two cores and C's p99 was
 * 7.5 × its p50 (README, "Sharing the database pool"; docs/performance.md, "The tail"). The
 * `ungated` server (C·pool) runs without it.
 */
export const fastPathGateOf = (env: NodeJS.ProcessEnv) =>
  Math.min(availableParallelism() + 1, serverPoolOf(env));

export interface TenantqlOptions {
  tenantsFile: string;
  cacheTtlSeconds: number;
  /** @default 'warn' */
  logLevel?: string;
  /** Node flags before the script, e.g. --cpu-prof. */
  nodeFlags?: string[];
  /** Extra settings for this server, e.g. `{ PG_PREPARED_STATEMENTS: '0' }`. */
  env?: Record<string, string>;
  /**
   * Another checkout to run `bin/tenantql.js start` from (BENCH_BASELINE, bench/baseline.ts):
   * the same environment, database, Valkey, tenants file and secrets; only the code differs.
   */
  checkout?: string;
}

export interface Bench {
  postgres: Postgres;
  valkey: Valkey;
  tokens: Tokens;
  seeded: { reused: boolean; ms: number };
  files: { small: string; big: string };
  requests: {
    hello: string;
    tenant: string;
    nested: string;
    writes: string;
    /** The write mix of one tenant: its writes queue on its id counter (migrations/004). */
    writesOneTenant: string;
    nestedWithTenant: string;
    /** C's logical query in PostGraphile 4's schema (scenario P), with the same tokens. */
    nestedPostgraphile: string;
    /** Scenario M: the member listing of tenants whose emails are encrypted, and (M₀) plaintext. */
    membersEncrypted: string;
    membersPlaintext: string;
  };
  startTenantql(name: string, options: TenantqlOptions): Promise<Child>;
  /** The bare yoga of scenario A; `noBodyStream`: A′. */
  startHello(options?: { noBodyStream?: boolean }): Promise<Child>;
  /** Scenario P: PostGraphile 4 (bench/postgraphile, installed by the caller), same runtime role and pool size. */
  startPostgraphile(): Promise<Child>;
  /** Stops every child and service this bench started, newest first. */
  close(): Promise<void>;
}

/**
 * Everything the scenarios share: PostgreSQL (seeded once), Valkey, tenants files, tokens,
 * the request lists wrk rotates through, and starters for the servers under test.
 */
export async function prepare(env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<Bench> {
  await mkdir(WORK_DIR, { recursive: true });
  const stops: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const stop of stops.reverse()) await stop().catch((e) => log(`cleanup: ${(e as Error).message}`));
  };
  try {
    const postgres = await startPostgres(env);
    stops.push(postgres.stop);
    log(`PostgreSQL ${postgres.version}: ${postgres.source}`);
    const valkey = await startValkey(env);
    stops.push(valkey.stop);
    log(`Valkey: ${valkey.source}`);

    const seeded = await seed(postgres.superuserDbUrl);
    // Fixed, not random: the embedded cluster (and its wrapped data keys) outlives a run.
    const masterKey = Buffer.from('tenantql bench master key 012345', 'utf8').toString('base64');
    if (await seedMemberListing(postgres.superuserDbUrl, masterKey))
      log('seed: member listing (scenario M) added');
    const shape = `${SHAPE.tenants} tenants × ${SHAPE.members} members × ${SHAPE.projects} projects × ${SHAPE.tasksPerProject} tasks`;
    log(`seed (${shape}): ${seeded.reused ? 'reused' : 'created'} in ${(seeded.ms / 1000).toFixed(1)} s`);

    const files = { small: join(WORK_DIR, 'tenants-200.json'), big: join(WORK_DIR, 'tenants-10000.json') };
    await writeJsonAtomically(files.small, tenantsFile(SHAPE.tenants));
    await writeJsonAtomically(files.big, tenantsFile(BIG_TENANT_COUNT));

    const secret = randomBytes(32).toString('base64url');
    const serviceSecret = randomBytes(32).toString('base64url');
    const tokens = await userTokens(secret);
    const ids = await sampleIds(postgres.superuserDbUrl, 5);
    const requests = {
      hello: await writeRequests(WORK_DIR, 'hello', perTenant(tokens, QUERIES.hello, false)),
      tenant: await writeRequests(WORK_DIR, 'tenant', perTenant(tokens, QUERIES.tenant)),
      nested: await writeRequests(WORK_DIR, 'nested', perTenant(tokens, QUERIES.nested)),
      writes: await writeRequests(WORK_DIR, 'writes', writeMix(tokens, ids, 2000)),
      writesOneTenant: await writeRequests(
        WORK_DIR,
        'writes-one-tenant',
        writeMix(tokens, ids, 2000, [seededTenantIds()[0]!]),
      ),
      nestedWithTenant: await writeRequests(
        WORK_DIR,
        'nested-tenant',
        perTenant(tokens, QUERIES.nestedWithTenant),
      ),
      membersEncrypted: await writeRequests(
        WORK_DIR,
        'members-encrypted',
        perTenant(tokens, QUERIES.members, true, MEMBER_LISTING.encrypted),
      ),
      membersPlaintext: await writeRequests(
        WORK_DIR,
        'members-plaintext',
        perTenant(tokens, QUERIES.members, true, MEMBER_LISTING.plaintext),
      ),
      nestedPostgraphile: await writeRequests(
        WORK_DIR,
        'nested-postgraphile',
        perTenant(tokens, QUERIES.nestedPostgraphile),
      ),
    };

    const started = async (child: Promise<Child>) => {
      const c = await child;
      stops.push(() => c.stop());
      return c;
    };
    return {
      postgres,
      valkey,
      tokens,
      seeded,
      files,
      requests,
      close,
      async startTenantql(name, options) {
        const port = await freePort();
        return started(
          spawnNode({
            name,
            args: [...(options.nodeFlags ?? []), 'bin/tenantql.js', 'start'],
            env: {
              PATH: env.PATH,
              HOME: env.HOME,
              NODE_ENV: 'production',
              LOG_LEVEL: options.logLevel ?? 'warn',
              HOST: '127.0.0.1',
              PORT: String(port),
              DATABASE_URL: postgres.databaseUrl,
              DATABASE_ADMIN_URL: postgres.adminUrl,
              VALKEY_URL: valkey.url,
              TENANTS_FILE: options.tenantsFile,
              JWT_SECRET: secret,
              SERVICE_JWT_SECRET: serviceSecret,
              TENANT_MASTER_KEY: masterKey,
              CACHE_TTL_SECONDS: String(options.cacheTtlSeconds),
              PG_POOL_MAX: String(POOL_MAX),
              FAST_PATH_CONCURRENCY: String(fastPathGateOf(env)),
              // After the defaults (BENCH_SERVER_PG_POOL_MAX=20 is a pool of 20), before the scenario's own.
              ...serverPassThrough(env),
              ...options.env,
            },
            port,
            readyPath: '/healthz',
            logFile: join(WORK_DIR, `server-${name}.log`),
            ...(options.checkout ? { cwd: options.checkout } : {}),
          }),
        );
      },
      async startHello(options = {}) {
        const port = await freePort();
        const name = options.noBodyStream ? 'hello-no-body-stream' : 'hello';
        return started(
          spawnNode({
            name,
            args: ['--import', 'tsx', 'bench/hello-server.ts'],
            env: {
              PATH: env.PATH,
              HOME: env.HOME,
              NODE_ENV: 'production',
              PORT: String(port),
              ...(options.noBodyStream ? { HELLO_NO_BODY_STREAM: '1' } : {}),
            },
            port,
            readyPath: '/health',
            logFile: join(WORK_DIR, `server-${name}.log`),
          }),
        );
      },
      async startPostgraphile() {
        const port = await freePort();
        return started(
          spawnNode({
            name: 'postgraphile',
            args: [POSTGRAPHILE_SERVER],
            env: {
              PATH: env.PATH,
              HOME: env.HOME,
              NODE_ENV: 'production',
              PORT: String(port),
              DATABASE_URL: postgres.databaseUrl,
              TENANTS_FILE: files.small,
              JWT_SECRET: secret,
              POOL: String(serverPoolOf(env)), // as large as tenantql's
            },
            port,
            readyPath: '/healthz',
            logFile: join(WORK_DIR, 'server-postgraphile.log'),
          }),
        );
      },
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** BENCH_SERVER_X=v reaches every tenantql server as X=v: a lever can be tried without an edit. */
function serverPassThrough(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(env)) {
    if (key.startsWith('BENCH_SERVER_') && value !== undefined)
      out[key.slice('BENCH_SERVER_'.length)] = value;
  }
  return out;
}
