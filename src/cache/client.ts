import {
  type ClientContext,
  Cluster,
  type ClusterOptions,
  Command,
  Redis,
  type RedisOptions,
  type Result,
} from 'ioredis';
import type { Config } from '../config.js';
import type { Logger } from '../observability/logger.js';

/**
 * The only importer of ioredis. Valkey is an accelerator, never a dependency of a request:
 * every command has a short timeout, nothing queues while disconnected, and a failure becomes
 * `undefined` for the caller (cache miss, rate limit open, event not shared) plus one warning
 * per outage. ioredis keeps reconnecting in the background; recovery logs one info line.
 */

export type Connection = Redis | Cluster;
/** For /readyz: 'in-process' means Valkey did not answer at start (single instance only). */
export type ValkeyState = 'ready' | 'down' | 'in-process';

/** Bounds what a request can lose to a slow Valkey (catalogue E6); see withTimeout. */
const COMMAND_TIMEOUT_MS = 150;
/**
 * ioredis' own timeout, a backstop only: it rejects (and frees) a command Valkey never answers.
 * The request stopped waiting at COMMAND_TIMEOUT_MS already.
 */
const BACKSTOP_TIMEOUT_MS = 2_000;
const CONNECT_TIMEOUT_MS = 2_000;
/** After a timeout Valkey is skipped this long, so a paused server costs one timeout, not one per call. */
const SUSPEND_AFTER_TIMEOUT_MS = 1_000;
const retryDelay = (attempt: number) => Math.min(50 * 2 ** Math.min(attempt, 6), 2_000);

const common: RedisOptions = {
  lazyConnect: true,
  commandTimeout: BACKSTOP_TIMEOUT_MS,
  connectTimeout: CONNECT_TIMEOUT_MS,
  // ioredis' default retries a command 20 times across reconnects; a request cannot wait that long.
  maxRetriesPerRequest: 1,
  // Commands issued by concurrent requests while one batch is in flight go out as the next
  // batch, in one write: under load, one socket write (a costly syscall on loopback) serves
  // many requests.
  enableAutoPipelining: true,
};

/**
 * One request against a fixed window (rate-limit.ts): INCR, start the window if it is new (or
 * repair one that lost its TTL), and say what is left of it — atomic, and one command instead
 * of a five-command MULTI, which under a burst of hundreds of requests costs a third of the
 * time on the client (measured: 500 concurrent, 46-153 ms against 131-341 ms and timeouts).
 */
const COUNT_WINDOW = {
  numberOfKeys: 1,
  lua: `local count = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1], 'NX')
return {count, redis.call('PTTL', KEYS[1])}`,
};

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext = { type: 'default' }> {
    /** See COUNT_WINDOW: [the count after this request, the window's remaining ms]. */
    countWindow(key: string, windowSeconds: number): Result<[number, number], Context>;
  }
}

/** Host and port only: VALKEY_URL may carry a password, and it must not reach a log line. */
function describeTarget(config: Pick<Config, 'valkeyUrl' | 'valkeyClusterNodes'>): string {
  if (config.valkeyClusterNodes?.length) return `cluster ${config.valkeyClusterNodes.join(',')}`;
  const url = new URL(config.valkeyUrl);
  return `${url.hostname}:${url.port || 6379}`;
}

/** Credentials (and TLS) for cluster nodes come from VALKEY_URL when it carries them. */
function credentials(config: Pick<Config, 'valkeyUrl'>): RedisOptions {
  const url = new URL(config.valkeyUrl);
  return {
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

function open(config: Pick<Config, 'valkeyUrl' | 'valkeyClusterNodes'>): Connection {
  const connection = connect(config);
  // ioredis sends EVALSHA, and the script itself once per node that does not know it yet.
  connection.defineCommand('countWindow', COUNT_WINDOW);
  return connection;
}

function connect(config: Pick<Config, 'valkeyUrl' | 'valkeyClusterNodes'>): Connection {
  const nodes = config.valkeyClusterNodes;
  if (!nodes?.length) {
    return new Redis(config.valkeyUrl, {
      ...common,
      enableOfflineQueue: false,
      retryStrategy: retryDelay,
    });
  }
  const options: ClusterOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    clusterRetryStrategy: retryDelay,
    slotsRefreshTimeout: CONNECT_TIMEOUT_MS,
    enableAutoPipelining: true,
    redisOptions: { ...common, ...credentials(config) },
  };
  return new Cluster(clusterNodes(nodes), options);
}

/** `host:port` strings, validated by readConfig. */
function clusterNodes(nodes: readonly string[]): { host: string; port: number }[] {
  return nodes.map((node) => {
    const colon = node.lastIndexOf(':');
    return { host: node.slice(0, colon), port: Number(node.slice(colon + 1)) };
  });
}

class CommandTimeout extends Error {
  constructor() {
    super(`Command timed out after ${COMMAND_TIMEOUT_MS} ms`);
  }
}

function isTimeout(error: unknown): boolean {
  return error instanceof CommandTimeout || (error instanceof Error && error.message === 'Command timed out');
}

/**
 * `promise`, or a CommandTimeout once `ms` have passed without an answer from Valkey. A burst of
 * hundreds of requests keeps this process busy for longer than `ms` (measured: 500 at once on
 * two cores), and a timer fires only when the event loop gets to it — *before* that turn reads
 * the sockets, where the reply may be waiting all along. So the verdict waits for one
 * setImmediate (run after the turn's I/O): only a reply that truly has not come is a timeout,
 * and a busy server does not take its own lag for a Valkey outage (limits open, cache off).
 */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(
      () =>
        setImmediate(() => {
          if (settled) return;
          settled = true;
          reject(new CommandTimeout());
        }),
      ms,
    );
    promise.then(
      (value) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** A server reply such as WRONGTYPE or NOPERM: Valkey is up, this one command failed. */
function isReplyError(error: unknown): boolean {
  return error instanceof Error && error.name === 'ReplyError';
}

export class ValkeyClient {
  #subscriber: Connection | undefined;
  #outage = false;
  #closing = false;
  #suspendedUntil = 0;

  private constructor(
    readonly connection: Connection,
    private readonly logger: Logger,
    private readonly target: string,
  ) {
    // Without an `error` listener an outage would crash the process (catalogue E6).
    connection.on('error', (error: Error) => this.#failed(error));
    connection.on('close', () => this.#failed(new Error('connection closed')));
    connection.on('ready', () => this.#succeeded());
  }

  /**
   * Connects and pings once. Resolves undefined when nothing answers in time: the caller then
   * runs in-process (SPEC §2) and this connection is dropped, not retried.
   */
  static async connect(
    config: Pick<Config, 'valkeyUrl' | 'valkeyClusterNodes'>,
    logger: Logger,
  ): Promise<ValkeyClient | undefined> {
    const connection = open(config);
    const swallow = () => {};
    connection.on('error', swallow);
    let timer: NodeJS.Timeout | undefined;
    try {
      const limit = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('connect timeout')), CONNECT_TIMEOUT_MS * 2);
      });
      await Promise.race([connection.connect().then(() => connection.ping()), limit]);
    } catch {
      connection.disconnect();
      return undefined;
    } finally {
      clearTimeout(timer);
      connection.off('error', swallow);
    }
    return new ValkeyClient(connection, logger, describeTarget(config));
  }

  /** Connected, and not suspended after a timeout. */
  get available(): boolean {
    return this.connection.status === 'ready' && Date.now() >= this.#suspendedUntil;
  }

  state(): Exclude<ValkeyState, 'in-process'> {
    return this.available && !this.#outage ? 'ready' : 'down';
  }

  /**
   * Runs `command`, or resolves undefined at once when Valkey is unavailable or the command
   * fails. Callers treat undefined as "no Valkey this time"; nothing here throws.
   */
  async attempt<T>(command: (connection: Connection) => Promise<T>): Promise<T | undefined> {
    if (!this.available) return undefined;
    try {
      const value = await withTimeout(command(this.connection), COMMAND_TIMEOUT_MS);
      this.#succeeded();
      return value;
    } catch (error) {
      if (isReplyError(error)) {
        this.logger.warn({ err: (error as Error).message }, 'Valkey command rejected');
      } else {
        this.#failed(error as Error);
      }
      return undefined;
    }
  }

  /**
   * The pub/sub connection, made on first use. Unlike commands, SUBSCRIBE may wait for a
   * reconnect (offline queue on), and ioredis re-subscribes every channel after one.
   *
   * No ready check (INFO) on it: ioredis writes a SUBSCRIBE issued between the TCP connect and
   * `ready` at once (Valkey allows it while loading), which puts the connection in subscriber
   * mode; the ready check's INFO then fails ("Connection in subscriber mode"), and ioredis drops
   * the connection as fatally broken, rejecting the SUBSCRIBEs still queued and, never having
   * been ready, re-subscribing none. Every instance would lose `{sys}:placements` and its
   * events whenever a request subscribed in that window (a tenant's first user token does:
   * auth/session-revocations.ts). This connection only sends SUBSCRIBE, UNSUBSCRIBE and PING,
   * all fine while Valkey loads, so it has nothing to wait for.
   */
  subscriber(): Connection {
    if (!this.#subscriber) {
      const override = {
        enableOfflineQueue: true,
        enableReadyCheck: false,
        commandTimeout: undefined,
        maxRetriesPerRequest: null,
      };
      this.#subscriber =
        this.connection instanceof Cluster
          ? this.connection.duplicate(undefined, {
              enableOfflineQueue: true,
              redisOptions: { ...this.connection.options.redisOptions, ...override },
            })
          : this.connection.duplicate(override);
      // Outages are reported by the command connection; this one only must not crash us.
      this.#subscriber.on('error', () => {});
      void this.#subscriber.connect().catch(() => {});
    }
    return this.#subscriber;
  }

  async quit(): Promise<void> {
    this.#closing = true;
    await Promise.all([this.connection, this.#subscriber].map((c) => c?.quit().catch(() => c.disconnect())));
  }

  #failed(error: Error): void {
    if (this.#closing) return;
    if (isTimeout(error)) this.#suspendedUntil = Date.now() + SUSPEND_AFTER_TIMEOUT_MS;
    if (this.#outage) return;
    this.#outage = true;
    this.logger.warn(
      { valkey: this.target, err: error.message },
      'Valkey unavailable: answering from PostgreSQL without the cache, rate limits open, events not shared',
    );
  }

  #succeeded(): void {
    if (!this.#outage || this.#closing) return;
    this.#outage = false;
    this.#suspendedUntil = 0;
    this.logger.info({ valkey: this.target }, 'Valkey available again');
  }
}

/** Every reply of a pipeline or MULTI, or the first error among them (so attempt() sees it). */
export async function replies(
  exec: Promise<[error: Error | null, result: unknown][] | null>,
): Promise<unknown[]> {
  const results = await exec;
  if (!results) throw new Error('transaction aborted');
  return results.map(([error, result]) => {
    if (error) throw error;
    return result;
  });
}

/**
 * For administration (`tenantql valkey-acl --apply`), not requests: runs `commands` in order
 * on the server, or on every node of the cluster (ACL users are per node, not replicated).
 * Resolves with the nodes it ran on. Errors carry the server's message only: ioredis attaches
 * the command's arguments (here, passwords) to its errors, so those are never passed on.
 */
export async function runOnEveryNode(
  config: Pick<Config, 'valkeyUrl' | 'valkeyClusterNodes'>,
  commands: readonly (readonly string[])[],
): Promise<string[]> {
  return withEveryNode(config, async (nodes) => {
    const done: string[] = [];
    for (const node of nodes) {
      for (const [name, ...args] of commands) await node.call(name!, ...args);
      done.push(`${node.options.host}:${node.options.port}`);
    }
    return done;
  });
}

/**
 * For administration: `work` with a connection to the server, or to every node of the cluster
 * (`primary` tells which hold keys), closed afterwards; errors name the server, not the command.
 */
export async function withEveryNode<T>(
  config: Pick<Config, 'valkeyUrl' | 'valkeyClusterNodes'>,
  work: (nodes: Redis[], primary: (node: Redis) => boolean) => Promise<T>,
): Promise<T> {
  const admin = { commandTimeout: 5_000, retryStrategy: () => null, maxRetriesPerRequest: 0 };
  const connection = config.valkeyClusterNodes?.length
    ? new Cluster(clusterNodes(config.valkeyClusterNodes), {
        lazyConnect: true,
        clusterRetryStrategy: () => null,
        redisOptions: { ...admin, ...credentials(config) },
      })
    : new Redis(config.valkeyUrl, { ...admin, lazyConnect: true });
  connection.on('error', () => {});
  try {
    await connection.connect();
    if (!(connection instanceof Cluster)) return await work([connection], () => true);
    const primaries = new Set(connection.nodes('master'));
    return await work(connection.nodes('all'), (node) => primaries.has(node));
  } catch (error) {
    throw new Error(`Valkey ${describeTarget(config)}: ${(error as Error).message}`);
  } finally {
    connection.disconnect();
  }
}

export { describeTarget };

/**
 * A PING that calls `onReply` while its reply is parsed, not a microtask later: the PONG and
 * the next message often arrive in one read, and ioredis emits that message synchronously,
 * before any `.then` of the PING could run. (A failed PING calls it too: joining late is
 * better than never.)
 */
export function pingThen(onReply: () => void): Command {
  const ping = new Command('ping', []);
  const { resolve, reject } = ping;
  ping.resolve = (reply) => {
    onReply();
    resolve(reply);
  };
  ping.reject = (error) => {
    onReply();
    reject(error);
  };
  ping.promise.catch(() => {}); // a lost connection is reported by the command connection
  return ping;
}
