import type { ChildProcess } from 'node:child_process';
import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from '../../src/db/embedded.js';
import { spawnUntilReady, stopProcess } from '../../src/dev/child-process.js';
import { findExecutable } from '../../src/dev/find-executable.js';

/**
 * A PgBouncer in `pool_mode = transaction` in front of the test cluster, for the `pgbouncer`
 * vitest project (see vitest.config.ts): the way most production PostgreSQL is reached.
 */
export interface PgBouncer {
  /** `postgres://127.0.0.1:<port>`: swap a role URL's host and port for these. */
  url: string;
  /** Its admin console (`SHOW POOLS`, `SHOW SERVERS`, `KILL db`), as the admin user. */
  adminUrl: string;
  stop(): Promise<void>;
}

export interface PgBouncerOptions {
  /** The pgbouncer executable (see findPgBouncer). */
  command: string;
  /** The PostgreSQL server behind it (any URL of the cluster: only its host and port count). */
  serverUrl: string;
  /** Role name → password, for the roles that log in through it. */
  users: Record<string, string>;
  /** Server connections per database and role: fewer than a test pool's 10, so clients share them. @default 4 */
  poolSize?: number;
}

/** `pgbouncer` on PATH, else Debian's /usr/sbin/pgbouncer (sbin is often not on PATH). */
export function findPgBouncer(path = process.env.PATH ?? ''): Promise<string | undefined> {
  return findExecutable(['pgbouncer'], path, ['/usr/sbin']);
}

/** PgBouncer refuses to run as root; as root it runs as `nobody`, which must read its files. */
const NOBODY = 65534;

/**
 * Starts PgBouncer on a free loopback port with its config and auth file in a temp dir, and
 * resolves once it accepts connections. Passwords are in the auth file in plain text (the run's
 * throwaway roles), so it can answer the server's SCRAM challenge as each role.
 */
export async function startPgBouncer(options: PgBouncerOptions): Promise<PgBouncer> {
  const server = new URL(options.serverUrl);
  // PgBouncer's host= takes a bare address; a URL without one (a Unix socket) is not supported.
  const host = server.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw new Error('PgBouncer needs a TCP host in TEST_DATABASE_URL (or set TEST_PGBOUNCER=0)');
  const dir = await mkdtemp(join(tmpdir(), 'tenantql-test-pgbouncer-'));
  const port = await freePort();
  const admin = { name: 'tenantql_pgbouncer_admin', password: `pgbouncer-admin-${port}` };
  const users = { ...options.users, [admin.name]: admin.password };
  const quote = (value: string) => `"${value.replaceAll('"', '""')}"`;
  const ini = [
    '[databases]',
    // The fallback: every database name a client asks for, on the test cluster.
    `* = host=${host} port=${server.port || '5432'}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'unix_socket_dir =',
    'pool_mode = transaction',
    `default_pool_size = ${options.poolSize ?? 4}`,
    'max_client_conn = 1000',
    'auth_type = scram-sha-256',
    `auth_file = ${join(dir, 'users.txt')}`,
    `admin_users = ${admin.name}`,
    'log_connections = 0',
    'log_disconnections = 0',
    'logfile =',
    'pidfile =',
  ];
  await writeFile(join(dir, 'pgbouncer.ini'), `${ini.join('\n')}\n`, { mode: 0o600 });
  await writeFile(
    join(dir, 'users.txt'),
    Object.entries(users)
      .map(([name, password]) => `${quote(name)} ${quote(password)}\n`)
      .join(''),
    { mode: 0o600 },
  );
  const root = process.getuid?.() === 0;
  if (root) {
    for (const path of [dir, join(dir, 'pgbouncer.ini'), join(dir, 'users.txt')])
      await chown(path, NOBODY, NOBODY);
  }
  let child: ChildProcess;
  try {
    child = await spawnPgBouncer(options.command, join(dir, 'pgbouncer.ini'), root);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `postgres://127.0.0.1:${port}`,
    adminUrl: `postgres://${admin.name}:${encodeURIComponent(admin.password)}@127.0.0.1:${port}/pgbouncer`,
    stop: async () => {
      await stopProcess(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Resolves once PgBouncer logs "process up"; fails with its last words. */
function spawnPgBouncer(command: string, ini: string, asNobody: boolean): Promise<ChildProcess> {
  return spawnUntilReady(command, [ini], 'process up', asNobody ? { uid: NOBODY, gid: NOBODY } : {});
}

/** Runs one admin console command (simple protocol only, as the console requires). */
export async function pgBouncerAdmin<R extends pg.QueryResultRow>(adminUrl: string, command: string) {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return (await client.query<R>(command)).rows;
  } finally {
    await client.end();
  }
}
