import type { Redis } from 'ioredis';
import { type App, createApp } from '../../src/app.js';
import { StreamCredentials } from '../../src/auth/stream-credentials.js';
import { createTokenVerifier } from '../../src/auth/verify.js';
import { startValkeyServices, type ValkeyServices } from '../../src/cache/services.js';
import type { Config } from '../../src/config.js';
import { DataKeys } from '../../src/crypto/data-keys.js';
import { createKeyStorePool, PostgresKeyStore } from '../../src/crypto/key-store.js';
import { createPool } from '../../src/db/pool.js';
import { demoAdminSchema } from '../../src/example/admin.js';
import { demoSchema } from '../../src/example/schema.js';
import { type Logger, silentLogger } from '../../src/observability/logger.js';
import type { GraphQLResponse, TestApp } from './app.js';

/**
 * A second server instance on the same database and Valkey (its own pool and Valkey
 * connections, as another process would have), sharing only the tenants file.
 */
export async function startPeer(
  t: TestApp,
  logger: Logger = silentLogger,
  config: Config = t.config,
): Promise<Peer> {
  const pool = createPool({
    url: t.db.appUrl,
    max: config.poolMax + config.poolReserve,
    logger,
    applicationName: 'tenantql-peer',
    preparedStatements: config.preparedStatements,
  });
  const valkey = await startValkeyServices(config, logger);
  // Its own key cache, as another process has: only the key store is shared.
  const keysPool = createKeyStorePool({ url: t.db.keys.appUrl, logger });
  const dataKeys = new DataKeys({
    store: new PostgresKeyStore(keysPool),
    masterKeys: config.masterKeys,
    logger,
  });
  const streams = new StreamCredentials({ tenants: () => t.registry.current, events: valkey.events, logger });
  const app = createApp({
    schema: demoSchema,
    adminSchema: demoAdminSchema,
    config,
    logger,
    registry: t.registry,
    pool,
    verifier: createTokenVerifier(t.config),
    dataKeys,
    valkeyState: valkey.state,
    cache: valkey.cache,
    rateLimiter: valkey.rateLimiter,
    events: valkey.events,
    streams,
  });
  return {
    app,
    valkey,
    streams,
    gql: (host, query, options) => gql(app, host, query, options),
    close: async () => {
      await valkey.close();
      await pool.end();
      await keysPool.end();
    },
  };
}

export interface Peer {
  app: App;
  valkey: ValkeyServices;
  /** The peer's open subscription streams. */
  streams: StreamCredentials;
  gql: (host: string, query: string, options?: GqlOptions) => Promise<GraphQLResponse>;
  close(): Promise<void>;
}

interface GqlOptions {
  token?: string;
  /** A whole Authorization header (e.g. `ApiKey …`), instead of `token`. */
  authorization?: string;
  variables?: object;
  headers?: Record<string, string>;
}

export async function gql(
  app: App,
  host: string,
  query: string,
  options: GqlOptions = {},
): Promise<GraphQLResponse> {
  const headers: Record<string, string> = { 'content-type': 'application/json', host, ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const response = await app.fetch(`http://${host}/graphql`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ query, variables: options.variables }),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as any };
}

/** An SSE subscription through `app.fetch`: `next()` resolves with each `next` event's payload. */
export interface Subscription {
  status: number;
  next(timeoutMs?: number): Promise<any>;
  /** Resolves true if no event arrives within `ms`. */
  quiet(ms: number): Promise<boolean>;
  /** Resolves true once the server ended the stream (within `ms`). */
  ended(ms: number): Promise<boolean>;
  /** `Date.now()` when the server ended the stream (its last byte was read), if it has. */
  readonly endedAt: number | undefined;
  close(): Promise<void>;
}

export async function subscribe(
  app: App,
  host: string,
  query: string,
  options: GqlOptions = {},
): Promise<Subscription> {
  const abort = new AbortController();
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'text/event-stream',
    host,
  };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.authorization) headers.authorization = options.authorization;
  const response = await app.fetch(`http://${host}/graphql`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ query, variables: options.variables }),
    signal: abort.signal,
  });
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  const events: any[] = [];
  let buffer = '';
  let waiting: (() => void) | undefined;
  let finished = false;
  let endedAt: number | undefined;
  const pump = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) {
          finished = true;
          endedAt = Date.now();
          waiting?.();
          return;
        }
        buffer += decoder.decode(value, { stream: true });
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = frame
            .split('\n')
            .filter((line) => line.startsWith('data:'))
            .map((line) => line.slice(5).trim())
            .join('\n');
          if (frame.includes('event: next') && data) events.push(JSON.parse(data));
          end = buffer.indexOf('\n\n');
        }
        waiting?.();
      }
    } catch {
      // aborted
    }
  })();
  const wait = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      waiting = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  return {
    status: response.status,
    get endedAt() {
      return endedAt;
    },
    async next(timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      while (events.length === 0) {
        if (Date.now() > deadline) throw new Error('no subscription event in time');
        await wait(deadline - Date.now());
      }
      return events.shift();
    },
    async quiet(ms) {
      if (events.length) return false;
      await wait(ms);
      return events.length === 0;
    },
    async ended(ms) {
      const deadline = Date.now() + ms;
      while (!finished && Date.now() < deadline) await wait(deadline - Date.now());
      return finished;
    },
    async close() {
      abort.abort();
      await reader.cancel().catch(() => {});
      await pump;
    },
  };
}

/** Waits until `channel` has `count` subscribers on the server (our instances subscribe lazily). */
export async function waitForSubscribers(redis: Redis, channel: string, count = 1): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const [, n] = (await redis.pubsub('NUMSUB', channel)) as [string, number];
    if (Number(n) >= count) return;
    if (Date.now() > deadline) throw new Error(`${channel} has ${n} subscribers, expected ${count}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
