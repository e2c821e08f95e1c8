import type { Plugin } from 'graphql-yoga';
import type { Pool } from './db/pool.js';

export interface HealthOptions {
  /** Resolves when PostgreSQL answers; rejects otherwise. Bounded here by `timeoutMs`. */
  checkDatabase: () => Promise<void>;
  /** Shown, never required: 'ready', 'down', 'in-process' (no Valkey at start), 'disabled'. */
  valkeyState: () => string;
  /** True once shutdown began: readiness fails so load balancers stop sending traffic. */
  shuttingDown: () => boolean;
  /** How long /readyz waits for PostgreSQL before it answers 503. @default 2000 */
  timeoutMs?: number;
}

const READY_TIMEOUT_MS = 2_000;

function json(status: number, body: object): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
  });
}

/**
 * `SELECT 1` through the serving pool, so readiness means "a request could get a connection
 * and an answer now". query_timeout makes pg drop a connection that stopped answering (pool.query
 * releases it with the error), so probes against a hung server cannot pile up and drain the pool.
 */
export function pingDatabase(pool: Pool, timeoutMs = READY_TIMEOUT_MS): () => Promise<void> {
  // pg reads query_timeout per query, though its types only declare it on the client config.
  const ping = { text: 'SELECT 1', query_timeout: timeoutMs };
  return async () => void (await pool.query(ping));
}

/** /healthz and /readyz answer on any host and name no tenant. */
export function useHealth(options: HealthOptions): Plugin {
  const timeoutMs = options.timeoutMs ?? READY_TIMEOUT_MS;
  // Probes that arrive while a check runs share it: a slow database sees one ping, not one per probe.
  let running: Promise<'ok' | 'unreachable'> | undefined;
  const database = () =>
    (running ??= withTimeout(options.checkDatabase(), timeoutMs)
      .then(
        () => 'ok' as const,
        () => 'unreachable' as const,
      )
      .finally(() => {
        running = undefined;
      }));

  return {
    async onRequest({ url, endResponse }) {
      if (url.pathname === '/healthz') return endResponse(json(200, { status: 'ok' }));
      if (url.pathname !== '/readyz') return;
      const valkey = options.valkeyState();
      if (options.shuttingDown()) return endResponse(json(503, { status: 'shutting-down', valkey }));
      const db = await database();
      const ok = db === 'ok' && !options.shuttingDown();
      endResponse(json(ok ? 200 : 503, { status: ok ? 'ready' : 'unready', database: db, valkey }));
    },
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}
