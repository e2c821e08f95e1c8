import { access, chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { freePort } from '../../src/db/embedded.js';
import { connectionUrl } from '../../src/db/setup.js';
import { defaultTenants, TEST_JWT_SECRET, TEST_SERVICE_SECRET } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { type CliResult, httpRequest, runCli, ServerProcess } from '../helpers/server-process.js';

/**
 * `tenantql start` as an operator runs it, failing to start: each failure is one plain line
 * on stderr naming the cause and the setting to change, exit 1, and no stack anywhere.
 */
const STACK_FRAME = /^ {4}at |\\n {4}at /m;
const APP_PASSWORD = () => inject('roles').app.password;

let db: TestDatabase;
let dir: string;

beforeAll(async () => {
  db = await createTestDatabase();
  dir = await mkdtemp(join(tmpdir(), 'tenantql-startup-'));
  await chmod(dir, 0o755); // the EACCES case runs as an unprivileged user, who must read it
  await writeFile(join(dir, 'tenants.json'), JSON.stringify(defaultTenants));
});
afterAll(async () => {
  await db.drop();
  await rm(dir, { recursive: true, force: true });
});

const env = (overrides: Record<string, string> = {}): Record<string, string> => ({
  DATABASE_URL: db.appUrl,
  DATABASE_ADMIN_URL: db.adminUrl,
  TENANTS_FILE: join(dir, 'tenants.json'),
  JWT_SECRET: TEST_JWT_SECRET,
  SERVICE_JWT_SECRET: TEST_SERVICE_SECRET,
  VALKEY_URL: inject('valkeyUrl'),
  LOG_LEVEL: 'info',
  HOST: '127.0.0.1',
  PORT: '0',
  ...overrides,
});

/** Exit 1, exactly `lines` on stderr, and no stack frame or password in anything printed. */
function expectFailure(result: CliResult, ...lines: (string | RegExp)[]) {
  expect(result.code, result.stderr).toBe(1);
  const printed = result.stderr.trimEnd().split('\n');
  expect(printed).toHaveLength(lines.length);
  lines.forEach((line, i) => {
    if (typeof line === 'string') expect(printed[i]).toBe(line);
    else expect(printed[i]).toMatch(line);
  });
  for (const output of [result.stderr, result.stdout]) {
    expect(output).not.toMatch(STACK_FRAME);
    expect(output).not.toContain(APP_PASSWORD());
    expect(output).not.toContain('wrong-secret-pw');
  }
}

function occupy(): Promise<Server & { port: number }> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(Object.assign(server, { port: typeof address === 'object' && address ? address.port : 0 }));
    });
  });
}

const closeServer = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));
const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

describe('tenantql start fails in one plain line', () => {
  it('when its port is in use: names HOST:PORT and the settings', async () => {
    const taken = await occupy();
    onTestFinished(() => closeServer(taken));
    const result = await runCli(['start'], { env: env({ PORT: String(taken.port) }) });
    expectFailure(
      result,
      `tenantql start: 127.0.0.1:${taken.port} is already in use (another tenantql?): stop it, or set PORT (or HOST) to another`,
    );
  });

  it('when it may not listen on its port (below 1024, unprivileged)', async () => {
    const unprivileged = Number(await readFile('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8'));
    expect(unprivileged, 'this machine lets anyone listen on port 1023').toBeGreaterThan(1023);
    // As root every port is allowed: run as nobody then.
    const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const result = await runCli(['start'], { cwd: dir, env: env({ PORT: '1023' }), ...asNobody });
    expectFailure(
      result,
      'tenantql start: no permission to listen on 127.0.0.1:1023 (ports below 1024 need privileges): set PORT to 1024 or above',
    );
  });

  it('when DATABASE_URL is unreachable: names its host:port and DATABASE_URL, not the password', async () => {
    const closed = await freePort();
    const url = `postgres://app:${APP_PASSWORD()}@127.0.0.1:${closed}/${db.name}`;
    const result = await runCli(['start'], { env: env({ DATABASE_URL: url }) });
    expectFailure(
      result,
      `tenantql start: cannot connect to PostgreSQL at 127.0.0.1:${closed} (connection refused): check DATABASE_URL`,
    );
  });

  it('when DATABASE_URL is refused (authentication failed)', async () => {
    const url = connectionUrl(db.appUrl, db.name, 'tenantql_no_such_role', 'wrong-secret-pw');
    const { host } = new URL(db.appUrl);
    const result = await runCli(['start'], { env: env({ DATABASE_URL: url }) });
    // Password authentication says 28P01 for an unknown user too; trust says 28000.
    expectFailure(
      result,
      new RegExp(
        `^tenantql start: PostgreSQL at ${host.replaceAll('.', '\\.')} refused (the password of )?user "tenantql_no_such_role".*: check DATABASE_URL$`,
      ),
    );
  });

  it('when the database of DATABASE_URL does not exist', async () => {
    const url = connectionUrl(db.appUrl, 'tenantql_no_such_db');
    const { host } = new URL(db.appUrl);
    const result = await runCli(['start'], { env: env({ DATABASE_URL: url }) });
    expectFailure(
      result,
      `tenantql start: database "tenantql_no_such_db" does not exist on ${host}: check DATABASE_URL`,
    );
  });

  it('when DATABASE_ADMIN_URL is unreachable: names DATABASE_ADMIN_URL', async () => {
    const closed = await freePort();
    const url = `postgres://admin:wrong-secret-pw@127.0.0.1:${closed}/${db.name}`;
    const result = await runCli(['start'], { env: env({ DATABASE_ADMIN_URL: url }) });
    expectFailure(
      result,
      `tenantql start: cannot connect to PostgreSQL at 127.0.0.1:${closed} (connection refused): check DATABASE_ADMIN_URL`,
    );
  });

  it('when the environment is invalid: a line per problem', async () => {
    const result = await runCli(['start'], { env: env({ PORT: '99999', LOG_LEVEL: 'loud' }) });
    expectFailure(result, 'tenantql start: invalid configuration:', /^ {2}PORT: /, /^ {2}LOG_LEVEL: /);
  });

  it('when the tenants file is invalid: a line per problem', async () => {
    const file = join(dir, 'invalid-tenants.json');
    await writeFile(file, JSON.stringify({ baseDomain: 'localhost', tenants: [{ id: 0, subdomain: 'A!' }] }));
    const result = await runCli(['start'], { env: env({ TENANTS_FILE: file }) });
    expect(result.stderr.split('\n')[0]).toBe(`tenantql start: invalid tenants file ${file}:`);
    expectFailure(
      result,
      ...result.stderr
        .trimEnd()
        .split('\n')
        .map((line, i) => (i ? /^ {2}\S/ : line)),
    );
    expect(result.stderr.trimEnd().split('\n').length).toBeGreaterThan(1);
  });

  it('in development, with an invalid tenants file, before starting PostgreSQL', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'tenantql-dev-invalid-'));
    await chmod(cwd, 0o755); // so that PostgreSQL, if it were started, could start
    onTestFinished(() => rm(cwd, { recursive: true, force: true }));
    await writeFile(join(cwd, 'tenants.json'), JSON.stringify({ tenants: 'none' }));
    const result = await runCli(['start'], {
      cwd,
      env: { HOME: cwd, PORT: '0', VALKEY_URL: inject('valkeyUrl') },
      timeoutMs: 60_000,
    });
    expect(result.stderr.split('\n')[0]).toBe('tenantql start: invalid tenants file ./tenants.json:');
    expectFailure(
      result,
      ...result.stderr
        .trimEnd()
        .split('\n')
        .map((line, i) => (i ? /^ {2}\S/ : line)),
    );
    expect(await exists(join(cwd, '.data'))).toBe(false);
  });
});

describe('tenantql start in development (embedded PostgreSQL under .data/)', () => {
  it('a second start while the first runs names its pid and leaves it be; a failed start stops PostgreSQL', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'tenantql-dev-twice-'));
    await chmod(cwd, 0o755); // as root, initdb runs as the postgres user, who must reach .data/
    onTestFinished(() => rm(cwd, { recursive: true, force: true }));
    const devEnv = { HOME: cwd, VALKEY_URL: inject('valkeyUrl'), LOG_LEVEL: 'info' };
    const first = await ServerProcess.start(devEnv, { cwd, timeoutMs: 90_000 });
    onTestFinished(async () => {
      // SIGTERM, not stop()'s SIGKILL: the server must get to stop its PostgreSQL.
      if (first.child.exitCode === null) first.child.kill('SIGTERM');
      await first.exited;
    });
    const stateFile = join(cwd, '.data', 'postgres', 'tenantql-embedded.json');
    const state = await readFile(stateFile, 'utf8');

    const second = await runCli(['start'], { cwd, env: { ...devEnv, PORT: '0' }, timeoutMs: 60_000 });
    expectFailure(
      second,
      new RegExp(
        `^tenantql start: \\.data/postgres is in use by pid ${first.child.pid} \\(another npm start\\? its PostgreSQL is pid \\d+\\): stop it first, or set DATABASE_URL to use another database$`,
      ),
    );
    expect(await readFile(stateFile, 'utf8')).toBe(state);
    expect((await httpRequest(first.port, { host: 'localhost', path: '/readyz' })).status).toBe(200);

    first.child.kill('SIGTERM');
    expect((await first.exited).code).toBe(0);

    // Now one that starts PostgreSQL and then cannot listen: it must stop what it started.
    const taken = await occupy();
    onTestFinished(() => closeServer(taken));
    const third = await runCli(['start'], {
      cwd,
      env: { ...devEnv, PORT: String(taken.port) },
      timeoutMs: 60_000,
    });
    expectFailure(
      third,
      `tenantql start: 127.0.0.1:${taken.port} is already in use (another tenantql?): stop it, or set PORT (or HOST) to another`,
    );
    expect(await exists(join(cwd, '.data', 'postgres', 'postmaster.pid'))).toBe(false);
  }, 240_000);
});
