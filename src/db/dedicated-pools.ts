import type pg from 'pg';
import { overloaded } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { PoolUsage } from '../observability/metrics.js';
import { createServingClient, type PoolClient } from './pool.js';
import { createPoolScheduler, type PoolScheduler } from './scheduler.js';
import { connectionUrl } from './setup.js';

/** A dedicated tenant's database and its two login roles (TENANT_SECRETS_FILE has them). */
export interface TenantCredentials {
  readonly database: string;
  readonly rw: RoleCredentials;
  readonly ro: RoleCredentials;
}

export interface RoleCredentials {
  readonly user: string;
  readonly password: string;
}

/** A query (`_ro`) or a mutation (`_rw`). */
export type Access = 'read' | 'write';

export interface DedicatedPoolsOptions {
  /** DATABASE_URL: the host, port and parameters of every dedicated connection. */
  baseUrl: string;
  /** Connections open at once over all dedicated tenants, idle ones included. */
  maxConnections: number;
  /** An idle connection closes after this long (PG_TENANT_POOL_IDLE_MS). */
  idleTimeoutMs: number;
  /** How long a request waits for its turn before 503 OVERLOADED (PG_POOL_WAIT_TIMEOUT_MS). */
  waitTimeoutMs: number;
  preparedStatements: boolean;
  /** The tenant's roles, from TENANT_SECRETS_FILE as the last successful (re)load read it. */
  credentials: (tenantId: number) => TenantCredentials | undefined;
  logger: Logger;
  onShed?: (tenantId: number) => void;
}

export interface DedicatedPools {
  /** The tenants' fair turns at the connection budget (db/scheduler.ts); held around connect. */
  readonly scheduler: PoolScheduler;
  /** A connection to the tenant's database as `_ro` or `_rw`; call with a slot of `scheduler`. */
  connect(tenantId: number, access: Access): Promise<PoolClient>;
  usage(): PoolUsage;
  /** Closes every connection as it becomes idle; connect fails from now on. */
  end(): Promise<void>;
}

interface Connection {
  readonly client: pg.Client;
  readonly tenantId: number;
  readonly access: Access;
  /** What it logged in with: a rotated password retires it. */
  readonly user: { readonly user: string; readonly password: string };
  idleTimer?: NodeJS.Timeout;
}

/**
 * The dedicated tier's connections (SPEC §10): one small pool per tenant and role, opened on
 * first use, closed when idle, and all of them together under a budget (what is left of
 * PG_MAX_CONNECTIONS_TOTAL after the shared pools). One list of idle connections serves all
 * tenants: a request takes its own tenant's most recent one (warm caches), and when the budget
 * is spent the connection idle the longest closes first, so the pools used least recently
 * shrink first and a tenant's first request is never refused while something sits idle.
 *
 * The scheduler in front holds at most `maxConnections` slots, and a slot is held from before
 * connect until release, so a slot holder always finds an idle connection to reuse or close,
 * or one about to close: waiting here is short, and bounded by the request's deadline anyway.
 */
export function createDedicatedPools(options: DedicatedPoolsOptions): DedicatedPools {
  const { maxConnections, logger } = options;
  const scheduler = createPoolScheduler({
    size: maxConnections,
    waitTimeoutMs: options.waitTimeoutMs,
    onShed: options.onShed,
  });
  /** Idle the longest first: a release appends. */
  const idle: Connection[] = [];
  /** Open or opening or closing: what PostgreSQL may count as a backend of ours. */
  let open = 0;
  let ended = false;
  let spaceWaiters: (() => void)[] = [];

  const notify = () => {
    const waiters = spaceWaiters;
    spaceWaiters = [];
    for (const wake of waiters) wake();
  };

  /** Ends a connection that is neither idle nor leased; it counts until it has closed. */
  function close(connection: Connection): void {
    clearTimeout(connection.idleTimer);
    connection.client
      .end()
      .catch(() => {})
      .finally(() => {
        open--;
        notify();
      });
  }

  function takeIdle(index: number): Connection {
    const [connection] = idle.splice(index, 1);
    clearTimeout(connection!.idleTimer);
    return connection!;
  }

  function lease(connection: Connection): PoolClient {
    let released = false;
    const client = connection.client as PoolClient;
    client.release = (error?: Error | boolean) => {
      if (released) return;
      released = true;
      if (error || ended) return close(connection);
      connection.idleTimer = setTimeout(() => {
        const at = idle.indexOf(connection);
        if (at >= 0) close(takeIdle(at));
      }, options.idleTimeoutMs).unref();
      idle.push(connection);
      notify();
    };
    return client;
  }

  async function openConnection(
    tenantId: number,
    access: Access,
    database: string,
    user: Connection['user'],
  ): Promise<PoolClient> {
    open++;
    const client = createServingClient({
      url: connectionUrl(options.baseUrl, database, user.user, user.password),
      applicationName: `tenantql t${tenantId} ${access === 'write' ? 'rw' : 'ro'}`,
      preparedStatements: options.preparedStatements,
    });
    const connection: Connection = { client, tenantId, access, user };
    // A backend that dies while the connection is idle emits 'error'; unhandled it would crash.
    client.on('error', (error) => {
      logger.warn({ err: error.message, tenantId }, 'dedicated database connection lost');
      const at = idle.indexOf(connection);
      if (at >= 0) close(takeIdle(at));
    });
    try {
      await client.connect();
    } catch (error) {
      open--;
      notify();
      throw error;
    }
    return lease(connection);
  }

  async function connect(tenantId: number, access: Access): Promise<PoolClient> {
    const deadline = performance.now() + options.waitTimeoutMs;
    for (;;) {
      if (ended) throw new Error('the dedicated pools are closed');
      const credentials = options.credentials(tenantId);
      if (!credentials) throw new Error(`no credentials for dedicated tenant ${tenantId}`);
      const user = access === 'write' ? credentials.rw : credentials.ro;
      const mine = idle.findLastIndex((c) => c.tenantId === tenantId && c.access === access);
      if (mine >= 0) {
        const connection = takeIdle(mine);
        if (connection.user.user === user.user && connection.user.password === user.password)
          return lease(connection);
        close(connection); // logged in with credentials since rotated
        continue;
      }
      if (open < maxConnections) return openConnection(tenantId, access, credentials.database, user);
      if (idle.length > 0) {
        close(takeIdle(0)); // the one idle the longest
        continue;
      }
      // Every connection is leased or closing; a close is under way (see above).
      const left = deadline - performance.now();
      if (left <= 0) throw overloaded(1);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        spaceWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  return {
    scheduler,
    connect,
    // Requests wait in the scheduler (reported with it: metrics.observeScheduler), not here.
    usage: () => ({ total: open, idle: idle.length, waiting: 0 }),
    async end() {
      ended = true;
      while (idle.length > 0) close(takeIdle(0));
      const deadline = performance.now() + 5_000;
      while (open > 0 && performance.now() < deadline) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 50);
          spaceWaiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    },
  };
}
