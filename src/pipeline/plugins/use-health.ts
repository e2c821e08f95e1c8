import type { Plugin } from 'graphql-yoga';

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

/** How long /readyz waits for PostgreSQL; the ping itself is bounded the same (pipeline/index.ts). */
export const READY_TIMEOUT_MS = 2_000;

function json(status: number, body: object): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
  });
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
