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

export function createPool(options: PoolOptions): Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
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
