import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import pg from 'pg';
import { freePort, startEmbeddedPostgres } from '../src/db/embedded.js';
import { type DatabaseUrls, setupDatabase } from '../src/db/setup.js';
import { stopProcess } from '../src/dev/child-process.js';
import { ephemeralArgs, findValkeyServer } from '../src/dev/valkey-process.js';
import { demoMigrationsDir } from '../src/example/migrations.js';
import { postmasterOf } from './cpu.js';

export const BENCH_DATABASE = 'tenantql_bench';
const EMBEDDED_DIR = '.data/bench-postgres';

export interface Postgres extends DatabaseUrls {
  superuserUrl: string;
  /** The superuser, connected to the bench database (seeding, probes). */
  superuserDbUrl: string;
  version: string;
  source: string;
  /** For CPU accounting; undefined when PostgreSQL runs on another machine. */
  postmasterPid: number | undefined;
  stop(): Promise<void>;
}

/**
 * BENCH_DATABASE_URL (a superuser) if set, else an embedded cluster under .data/bench-postgres,
 * kept between runs so the seed is reused. Runs `db setup` for fresh role URLs every time.
 */
export async function startPostgres(env: NodeJS.ProcessEnv): Promise<Postgres> {
  const given = env.BENCH_DATABASE_URL;
  const embedded = given ? undefined : await startEmbeddedPostgres({ dataDir: EMBEDDED_DIR });
  const superuserUrl = given ?? embedded!.superuserUrl;
  try {
    const urls = await setupDatabase({
      superuserUrl,
      database: BENCH_DATABASE,
      productMigrations: demoMigrationsDir,
    });
    const url = new URL(superuserUrl);
    url.pathname = `/${BENCH_DATABASE}`;
    const client = new pg.Client({ connectionString: superuserUrl });
    await client.connect();
    const { rows } = await client.query<{ server_version: string; pid: number }>(
      "SELECT current_setting('server_version') AS server_version, pg_backend_pid() AS pid",
    );
    // While this backend still exists: its parent is the postmaster.
    const postmasterPid = postmasterOf(rows[0]!.pid);
    await client.end();
    return {
      ...urls,
      superuserUrl,
      superuserDbUrl: url.toString(),
      version: rows[0]!.server_version,
      postmasterPid,
      source: given ? 'BENCH_DATABASE_URL' : `embedded (${EMBEDDED_DIR})`,
      stop: async () => embedded?.stop(),
    };
  } catch (error) {
    await embedded?.stop();
    throw error;
  }
}

export interface Valkey {
  url: string;
  source: string;
  stop(): Promise<void>;
}

/** BENCH_VALKEY_URL if set, else valkey-server or redis-server from PATH on a free port, memory only. */
export async function startValkey(env: NodeJS.ProcessEnv): Promise<Valkey> {
  if (env.BENCH_VALKEY_URL)
    return { url: env.BENCH_VALKEY_URL, source: 'BENCH_VALKEY_URL', stop: async () => {} };
  const binary = await findValkeyServer();
  if (!binary) throw new Error('the bench needs valkey-server or redis-server on PATH, or BENCH_VALKEY_URL');
  const port = await freePort();
  const child = spawn(binary, ephemeralArgs(port), { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  const stop = () => stopProcess(child);
  for (let attempt = 0; attempt < 100; attempt++) {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => {}); // refused until it listens: expected while it starts
    const ok = await client.connect().then(
      () => client.ping().then(() => true),
      () => false,
    );
    client.disconnect();
    if (ok) return { url, source: `${binary} (port ${port})`, stop };
    await sleep(100);
  }
  await stop();
  throw new Error(`${binary} did not answer on port ${port}`);
}
