import type { Plugin } from 'graphql-yoga';

export interface HealthOptions {
  /** Resolves when PostgreSQL answers; rejects or times out otherwise. */
  checkDatabase: () => Promise<void>;
  /** 'ready', 'degraded' (in-process fallback) or 'down'. */
  valkeyState: () => string;
  /** True once shutdown began: readiness fails so load balancers stop sending traffic. */
  shuttingDown: () => boolean;
}

const READY_TIMEOUT_MS = 2_000;

function json(status: number, body: object): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

/** /healthz and /readyz answer on any host and name no tenant. */
export function useHealth(options: HealthOptions): Plugin {
  return {
    async onRequest({ url, endResponse }) {
      if (url.pathname === '/healthz') return endResponse(json(200, { status: 'ok' }));
      if (url.pathname !== '/readyz') return;
      const valkey = options.valkeyState();
      if (options.shuttingDown()) return endResponse(json(503, { status: 'shutting-down', valkey }));
      const database = await withTimeout(options.checkDatabase(), READY_TIMEOUT_MS).then(
        () => 'ok',
        () => 'unreachable',
      );
      const ok = database === 'ok';
      endResponse(json(ok ? 200 : 503, { status: ok ? 'ready' : 'unready', database, valkey }));
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
