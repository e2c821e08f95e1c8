import { AppError, overloaded, tenantReadOnly } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { type Pool, type PoolClient, type QueryResultRow, quoteLiteral } from './pool.js';
import type { AcquireSlot, SlotUse } from './scheduler.js';
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

  /**
   * The request's one statement in a single round trip: BEGIN with the settings, the statement
   * and COMMIT, as one simple-protocol string. For a read that needs nothing else
   * (src/fastpath/): only before the transaction began, and only READ ONLY; the transaction is
   * over when this returns. When the statement fails with an error that `retry` accepts, or
   * cannot be prepared (StatementNotPrepared), the transaction is rolled back and left as if it
   * had never begun, so the request can still run another way; any other failure ends it, like
   * a failed statement.
   *
   * A named statement is prepared on the connection the first time it meets it (one round
   * trip of its own, once per connection), then run as `EXECUTE name(…)`: PostgreSQL parses and
   * plans it once, not per request. Connections keep at most PREPARED_PER_CONNECTION of them.
   */
  async runAlone<R extends QueryResultRow>(
    statement: AloneStatement,
    retry: (error: unknown) => boolean,
  ): Promise<R[]> {
    if (this.#client || this.#finished || !this.#readOnly || this.#adopted.length > 0) {
      throw new Error('runAlone() needs a read-only transaction that has not begun');
    }
    this.#finished = true; // nothing else runs in this transaction
    const client = await this.#connect('alone');
    let results: { rows: R[] }[];
    try {
      const run = await this.#aloneText(client, statement);
      this.onQuery?.();
      results = (await client.query(
        `${run.before}${beginStatement(this.settings, true)}; ${run.text}; COMMIT`,
      )) as unknown as {
        rows: R[];
      }[];
      results = results.slice(results.length - 4);
    } catch (error) {
      // A statement we thought prepared is not (DISCARD ALL, say): prepare again next time.
      const unknownName = (error as { code?: unknown }).code === INVALID_STATEMENT_NAME;
      if (unknownName) preparedOn.delete(client);
      // PostgreSQL skipped the rest of the string; if BEGIN ran, the transaction is aborted.
      this.onQuery?.();
      await client.query('ROLLBACK').then(
        () => client.release(),
        (rollbackError: Error) => client.release(rollbackError),
      );
      if (error instanceof StatementNotPrepared || unknownName || retry(error)) {
        this.#finished = false;
        throw error;
      }
      this.#failure = mapSqlError(error);
      throw this.#failure;
    }
    client.release();
    await this.#runAfterCommit();
    // BEGIN, the settings' SELECT, the statement, COMMIT.
    return results[2]?.rows ?? [];
  }

  /** The statement as runAlone sends it: `EXECUTE`, after preparing it on `client` if need be. */
  async #aloneText(client: PoolClient, statement: AloneStatement): Promise<{ before: string; text: string }> {
    const { name } = statement;
    if (name === undefined) return { before: '', text: statement.text };
    let prepared = preparedOn.get(client);
    if (!prepared) {
      prepared = new Set();
      preparedOn.set(client, prepared);
    }
    let before = '';
    if (prepared.has(name)) {
      prepared.delete(name); // most recently used last
    } else {
      this.onQuery?.();
      const types = statement.types.length > 0 ? `(${statement.types.join(', ')})` : '';
      await client.query(`PREPARE ${name}${types} AS ${statement.text}`).catch((error: unknown) => {
        throw new StatementNotPrepared(error);
      });
      if (prepared.size >= PREPARED_PER_CONNECTION) {
        const oldest = prepared.values().next().value as string;
        prepared.delete(oldest);
        before = `DEALLOCATE ${oldest}; `;
      }
    }
    prepared.add(name);
    const args = statement.params.map((v) => (v === null ? 'NULL' : quoteLiteral(v)));
    return { before, text: `EXECUTE ${name}${args.length > 0 ? `(${args.join(', ')})` : ''}` };
  }

  /** A connection for this transaction, in its tenant's turn at the pool. */
  async #connect(use: SlotUse = 'transaction'): Promise<PoolClient> {
    const release = (await this.acquireSlot?.(this.settings.tenantId, use)) ?? (() => {});
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
    return client;
  }

  async #begin(): Promise<PoolClient> {
    const client = await this.#connect();
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

/** A statement for RequestTransaction.runAlone. */
export interface AloneStatement {
  /** One SELECT: with `name`, its values are $1, $2, … (cast in the text); without, literals. */
  readonly text: string;
  /** The values of $1, $2, …, as text (or NULL), when `name` is set. */
  readonly params: readonly (string | null)[];
  /** Their SQL types (`int`, `text`: names from the code, never input). */
  readonly types: readonly string[];
  /** Prepared under this name (an SQL identifier) on each connection, once. */
  readonly name?: string;
}

/** runAlone could not prepare the statement; nothing of the request ran, and it may run another way. */
export class StatementNotPrepared extends Error {
  constructor(override readonly cause: unknown) {
    super(`cannot prepare the statement: ${(cause as Error).message}`);
  }
}

/** The statements runAlone prepared on each connection, least recently used first. */
const preparedOn = new WeakMap<PoolClient, Set<string>>();
const PREPARED_PER_CONNECTION = 64;
/** SQLSTATE 26000: EXECUTE or DEALLOCATE of a statement the session does not have. */
const INVALID_STATEMENT_NAME = '26000';

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

/**
 * `work` in a short read-only transaction of `tenant` that no request owns (an API key's lookup,
 * a read of its revoked sessions): the tenant's settings with no user, its turn at `route`'s
 * connections, committed at once.
 */
export function readAsTenant<T>(
  route: { readonly source: ConnectionSource; readonly acquireSlot?: AcquireSlot },
  tenant: { readonly id: number; readonly statementTimeoutMs: number },
  logger: Logger,
  work: (tx: RequestTransaction) => Promise<T>,
  onQuery?: () => void,
): Promise<T> {
  const settings = {
    tenantId: tenant.id,
    userId: undefined,
    actorTenantId: undefined,
    statementTimeoutMs: tenant.statementTimeoutMs,
  };
  return runInTransaction(
    new RequestTransaction(route.source, settings, logger, route.acquireSlot, onQuery),
    work,
  );
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
