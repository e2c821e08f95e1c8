import pg from 'pg';
import type { Logger } from '../logger.js';

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

export function createPool(options: PoolOptions): Pool {
  const pool = new pg.Pool({
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
