import pg from 'pg';
import type { Logger } from '../observability/logger.js';
import type { PoolUsage } from '../observability/metrics.js';

/** The only importer of pg's Pool for serving requests. */
export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;
export type QueryResultRow = pg.QueryResultRow;

export interface PoolOptions {
  url: string;
  max: number;
  logger: Logger;
  /** Shown in pg_stat_activity, so operators can tell the pools apart. */
  applicationName: string;
  /** PG_PREPARED_STATEMENTS. False: every statement is sent unnamed (see UnnamedStatementsClient). */
  preparedStatements: boolean;
}

/** OID of timestamptz: the type of every timestamp column. */
const TIMESTAMPTZ_OID = 1184;

/**
 * Type parsers for the serving pools only (not pg's global registry, which migrate and tests
 * share): timestamptz stays the text PostgreSQL sends. Parsing it into a Date on every row
 * cost ~5 % of a nested read's CPU for columns most queries never ask for; the DateTime
 * scalar converts the few that a client selects.
 */
const servingTypes = new pg.TypeOverrides();
servingTypes.setTypeParser(TIMESTAMPTZ_OID, 'text', (text: string) => text);

/**
 * A client that drops the `name` of every query it is given (src/db/queries/*.ts name theirs).
 * pg prepares a named statement once per connection and afterwards sends only the name. A
 * transaction-pooling proxy (PgBouncer before 1.21, Supavisor) hands each transaction whichever
 * server connection is free, so the name is missing there ("prepared statement … does not
 * exist") or another client prepared it ("… already exists"). Unnamed, a statement is parsed,
 * bound and run in one message sequence, which the proxy keeps on one server connection.
 */
class UnnamedStatementsClient extends pg.Client {
  override query(config: unknown, ...rest: unknown[]): never {
    const unnamed = isNamedQuery(config) ? { ...config, name: undefined } : config;
    return (super.query as (...args: unknown[]) => never).call(this, unnamed, ...rest);
  }
}

/** A plain query config with a name (not a string, nor a Submittable such as a cursor). */
function isNamedQuery(config: unknown): config is { name: string } {
  return (
    typeof config === 'object' &&
    config !== null &&
    typeof (config as { submit?: unknown }).submit !== 'function' &&
    typeof (config as { name?: unknown }).name === 'string'
  );
}

/** One connection with the serving pools' settings (for pools of our own: dedicated-pools.ts). */
export function createServingClient(options: {
  url: string;
  applicationName: string;
  preparedStatements: boolean;
}): pg.Client {
  const Client = options.preparedStatements ? pg.Client : UnnamedStatementsClient;
  return new Client({
    connectionString: options.url,
    types: servingTypes,
    application_name: options.applicationName,
    connectionTimeoutMillis: 5_000,
  });
}

export function createPool(options: PoolOptions): Pool {
  const pool = new pg.Pool({
    ...(!options.preparedStatements && { Client: UnnamedStatementsClient }),
    connectionString: options.url,
    types: servingTypes,
    max: options.max,
    application_name: options.applicationName,
    // A request waits at most this long for a connection, then fails instead of queueing forever.
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client whose backend died emits 'error'; unhandled, it would crash the process.
  pool.on('error', (error) => options.logger.warn({ err: error.message }, 'idle database connection lost'));
  return pool;
}

/** Quotes a string as an SQL literal (for the one-round-trip BEGIN; see request-transaction.ts). */
export function quoteLiteral(value: string): string {
  return pg.Client.prototype.escapeLiteral(value);
}

/** Quotes an identifier (the tables and columns src/fastpath/sql.ts names). */
export function quoteIdentifier(name: string): string {
  return pg.escapeIdentifier(name);
}

/**
 * `SELECT 1` through the serving pool, so readiness means "a request could get a connection
 * and an answer now". query_timeout makes pg drop a connection that stopped answering (pool.query
 * releases it with the error), so probes against a hung server cannot pile up and drain the pool.
 */
export function pingDatabase(pool: Pool, timeoutMs: number): () => Promise<void> {
  // pg reads query_timeout per query, though its types only declare it on the client config.
  const ping = { text: 'SELECT 1', query_timeout: timeoutMs };
  return async () => void (await pool.query(ping));
}

export function poolUsage(pool: Pool): () => PoolUsage {
  return () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount });
}
