import { AppError, overloaded, tenantReadOnly } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { type Pool, type PoolClient, type QueryResultRow, quoteLiteral } from './pool.js';
import type { AcquireSlot } from './scheduler.js';
import { mapSqlError } from './sql-errors.js';
import { type Place, type WriteFenceRow, writeFenceStatement } from './write-pause.js';

export type { AcquireSlot } from './scheduler.js';

/** What PostgreSQL learns about the request; every value is transaction-local. */
export interface TenantSettings {
  readonly tenantId: number;
  readonly userId: string | undefined;
  readonly actorTenantId: number | undefined;
  readonly statementTimeoutMs: number;
}

/**
 * Where a transaction's connection comes from: a pg Pool (the shared tier, the admin pool), or
 * a dedicated tenant's pools, which pick the read-only or the read-write role by `readOnly`.
 * (Not `connect`: pg's Pool.connect takes a callback, and would take the flag for one.)
 */
export interface ConnectionSource {
  connectFor(readOnly: boolean): Promise<PoolClient>;
  /** Set for a tenant's own rows: its write transactions pass the move's fence (db/write-pause.ts). */
  readonly writeFence?: WriteFence;
}

export interface WriteFence {
  /** Where these connections are: what the database they reach must record as the tenant's place. */
  readonly place: Place;
  /** Told when that database records another place: a move switched the tenant, and this instance has not heard. */
  readonly onMoved?: (tenantId: number) => void;
}

export interface Query {
  /**
   * A name makes pg prepare the statement once per connection and reuse it; pools made with
   * PG_PREPARED_STATEMENTS=0 drop it (src/db/pool.ts), for transaction-pooling proxies.
   */
  readonly name?: string;
  readonly text: string;
  readonly values?: readonly unknown[];
}

/**
 * One request's database work: a single transaction on the runtime role, begun only when the
 * request first needs the database, as `@dataplan/pg`'s withPgClient does. Settings use
 * set_config(…, true), so nothing survives on the pooled connection after COMMIT or ROLLBACK.
 *
 * READ ONLY unless the request runs a mutation (`allowWrites()` before the first statement):
 * a query, a subscription event or a credential lookup cannot write, whatever a resolver does.
 */
export class RequestTransaction {
  #client: Promise<PoolClient> | undefined;
  #finished = false;
  #readOnly = true;
  /** The first failure; PostgreSQL has aborted the transaction, so later statements repeat it. */
  #failure: unknown;
  readonly #afterCommit: (() => void | Promise<void>)[] = [];
  /** Transactions of the same request in other databases (the admin host's reads of dedicated tenants). */
  readonly #adopted: RequestTransaction[] = [];
  /**
   * The last statement queued. A connection runs one statement at a time, and resolvers run in
   * parallel: they wait here in order, instead of piling onto pg's deprecated internal queue
   * (which pg@9 removes), and a statement queued behind a failed one is not sent at all.
   */
  #tail: Promise<unknown> = Promise.resolve();

  readonly #source: ConnectionSource;

  constructor(
    source: ConnectionSource | Pool,
    private readonly settings: TenantSettings,
    private readonly logger: Logger,
    private readonly acquireSlot?: AcquireSlot,
    private readonly onQuery?: () => void,
  ) {
    this.#source = 'connectFor' in source ? source : { connectFor: () => source.connect() };
  }

  /** True once a connection was borrowed (for tests and metrics). */
  get started(): boolean {
    return this.#client !== undefined;
  }

  /** Makes the transaction READ WRITE; only before it began (a mutation request, at execute). */
  allowWrites(): void {
    if (this.#client) throw new Error('allowWrites() after the transaction began');
    this.#readOnly = false;
  }

  /** Ends `other` with this transaction, whichever way it ends. */
  adopt(other: RequestTransaction): void {
    this.#adopted.push(other);
  }

  /** Runs `callback` once the transaction has committed (events, cache invalidation); never on rollback. */
  afterCommit(callback: () => void | Promise<void>): void {
    this.#afterCommit.push(callback);
  }

  query<R extends QueryResultRow>(query: Query): Promise<R[]> {
    const run = this.#tail.then(() => this.#run<R>(query));
    this.#tail = run.catch(() => {});
    return run;
  }

  async #run<R extends QueryResultRow>(query: Query): Promise<R[]> {
    if (this.#finished) throw new Error('query after the request transaction finished');
    if (this.#failure !== undefined) {
      // A TIMEOUT stays a TIMEOUT for every field it ended; anything else is not shown twice.
      throw this.#failure instanceof AppError
        ? this.#failure
        : new AppError('INTERNAL_SERVER_ERROR', 'Not run: an earlier operation of this request failed.');
    }
    this.#client ??= this.#begin();
    const client = await this.#client;
    this.onQuery?.();
    try {
      const result = await client.query<R>(query as { text: string; values?: unknown[] });
      return result.rows;
    } catch (error) {
      // PostgreSQL aborts the transaction on any error; later statements could only fail.
      this.#failure = mapSqlError(error);
      throw this.#failure;
    }
  }

  async #begin(): Promise<PoolClient> {
    const release = (await this.acquireSlot?.(this.settings.tenantId)) ?? (() => {});
    let client: PoolClient;
    try {
      client = await this.#source.connectFor(this.#readOnly);
    } catch (error) {
      release();
      // The scheduler leaves a free connection for every slot it grants; a connect that still
      // times out means PostgreSQL is slow to accept connections: shed, as for a long wait.
      throw isConnectTimeout(error) ? overloaded(1) : error;
    }
    // pg-pool listens for 'error' only on idle clients. If this connection dies while no
    // statement is running (between two of them), pg emits 'error' on the checked-out client,
    // and unhandled that ends the process. The next statement or the ROLLBACK then fails, and
    // finish() destroys the client.
    const onError = (error: Error) => this.logger.warn({ err: error.message }, 'database connection lost');
    client.on('error', onError);
    const releaseClient = client.release.bind(client);
    client.release = (err?: Error | boolean) => {
      client.off('error', onError);
      release();
      releaseClient(err);
    };
    const fence = this.#readOnly ? undefined : this.#source.writeFence;
    let fenceRow: WriteFenceRow | undefined;
    try {
      this.onQuery?.();
      const begin = beginStatement(this.settings, this.#readOnly);
      if (!fence) {
        await client.query(begin);
        return client;
      }
      // Still one round trip: the fence's row is the last result of the multi-statement string.
      const results = (await client.query(
        `${begin}; ${writeFenceStatement(this.settings.tenantId)}`,
      )) as unknown as {
        rows: WriteFenceRow[];
      }[];
      fenceRow = results.at(-1)?.rows[0];
    } catch (error) {
      client.release(error as Error);
      throw mapSqlError(error);
    }
    if (fenceRow?.writable && fenceRow.placed === fence.place) return client;
    await client.query('ROLLBACK').then(
      () => client.release(),
      (error: Error) => client.release(error),
    );
    if (fenceRow && fenceRow.placed !== fence.place) fence.onMoved?.(this.settings.tenantId);
    throw tenantReadOnly();
  }

  /**
   * Commits (or rolls back) and returns the connection. Idempotent, so a safety net can call
   * it again. A connection whose state is unknown is destroyed rather than reused.
   */
  async finish(commit: boolean): Promise<void> {
    if (this.#finished) return;
    this.#finished = true;
    for (const other of this.#adopted) await other.finish(false).catch(() => {});
    if (!this.#client) return;
    await this.#tail;
    let client: PoolClient;
    try {
      client = await this.#client;
    } catch {
      return; // begin failed and already released the connection
    }
    const ending = commit && this.#failure === undefined ? 'COMMIT' : 'ROLLBACK';
    try {
      this.onQuery?.();
      await client.query(ending);
      client.release();
    } catch (error) {
      client.release(error as Error);
      this.logger.warn({ err: (error as Error).message }, `${ending} failed`);
      if (ending === 'COMMIT') throw mapSqlError(error);
      return;
    }
    if (ending === 'COMMIT') await this.#runAfterCommit();
  }

  async #runAfterCommit(): Promise<void> {
    for (const callback of this.#afterCommit) {
      try {
        await callback();
      } catch (error) {
        this.logger.warn({ err: (error as Error).message }, 'after-commit callback failed');
      }
    }
  }
}

/**
 * Runs `work` in `tx` (a short transaction of its own, not a request's) and commits; if `work`
 * or the commit fails, rolls back, releases the connection and rethrows.
 */
export async function runInTransaction<T>(
  tx: RequestTransaction,
  work: (tx: RequestTransaction) => Promise<T>,
): Promise<T> {
  try {
    const result = await work(tx);
    await tx.finish(true);
    return result;
  } finally {
    await tx.finish(false); // a no-op after the commit
  }
}

/** pg-pool's own message when `connectionTimeoutMillis` passes. */
function isConnectTimeout(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('timeout exceeded when trying to connect');
}

/**
 * BEGIN and every setting in one round trip (a simple-protocol multi-statement string).
 * Ids are integers from the tenants file; the user id is quoted with pg's escapeLiteral.
 */
export function beginStatement(settings: TenantSettings, readOnly = true): string {
  const sets = [
    `set_config('app.tenant_id', '${Math.trunc(settings.tenantId)}', true)`,
    `set_config('app.user_id', ${quoteLiteral(settings.userId ?? '')}, true)`,
    `set_config('app.actor_tenant_id', '${settings.actorTenantId === undefined ? '' : Math.trunc(settings.actorTenantId)}', true)`,
    `set_config('statement_timeout', '${Math.trunc(settings.statementTimeoutMs)}', true)`,
  ];
  return `BEGIN ${readOnly ? 'READ ONLY' : 'READ WRITE'}; SELECT ${sets.join(', ')}`;
}
