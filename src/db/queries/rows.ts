/** The runner every query module takes: a request transaction, or a test's client. */
export interface Db {
  query<R extends object>(query: { name?: string; text: string; values?: readonly unknown[] }): Promise<R[]>;
}

/**
 * A page request after validation: rows after `afterId` (a row id; `<tenant id>:<row id>` where
 * rows of many tenants are listed), at most `limit` (+1 to see if more).
 */
export interface Page {
  readonly afterId: string | null;
  readonly limit: number;
}
