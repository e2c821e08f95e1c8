import type { Pool } from '../db/pool.js';
import type { Logger } from '../observability/logger.js';

/** A column as the fast path needs it: its type decides how PostgreSQL writes it as JSON. */
export interface Column {
  readonly name: string;
  /** pg_type.typname: `text`, `int4`, `timestamptz`, … */
  readonly type: string;
  /** A PostgreSQL enum type (compared as text). */
  readonly isEnum: boolean;
  /** NOT NULL: its value needs no null check. */
  readonly notNull: boolean;
}

/** A table-backed type's table: its row id (`id`) and tenant (`tenant_id`) are the library's convention. */
export interface Table {
  readonly name: string;
  readonly columns: ReadonlyMap<string, Column>;
}

export interface Catalog {
  /** The table, if it exists with `tenant_id` and `id`; else undefined (its types are not compiled). */
  table(name: string): Table | undefined;
  /**
   * DateStyle is ISO: the serving pool hands timestamps to the DateTime scalar as PostgreSQL's
   * text, which the fast path reproduces only for that style.
   */
  readonly isoDates: boolean;
}

/**
 * The columns of the tables the fast path reads, from the system catalog, once: the first
 * compiled request waits for it (a few milliseconds), every later one finds it loaded. A
 * failed read is logged and tried again by a later request; until then requests take the
 * resolvers. Tables come and go only with migrations, which run before a server serves.
 */
export function catalogLoader(
  pool: Pool,
  logger: Logger,
): (tables: readonly string[]) => Promise<Catalog | undefined> {
  let loading: Promise<Catalog | undefined> | undefined;
  let failedAt = 0;
  return (tables) => {
    if (loading) return loading;
    if (Date.now() - failedAt < RETRY_AFTER_MS) return Promise.resolve(undefined);
    loading = readCatalog(pool, tables).catch((error: Error) => {
      logger.warn(
        { err: error.message },
        'fast path: cannot read the catalog; resolvers serve every request',
      );
      failedAt = Date.now();
      loading = undefined;
      return undefined;
    });
    return loading;
  };
}

const RETRY_AFTER_MS = 10_000;

async function readCatalog(pool: Pool, tables: readonly string[]): Promise<Catalog> {
  const [columns, style] = await Promise.all([
    pool.query<{ table_name: string; name: string; type: string; is_enum: boolean; not_null: boolean }>(
      `SELECT t.name AS table_name, a.attname AS name, ty.typname AS type, ty.typtype = 'e' AS is_enum,
              a.attnotnull AS not_null
         FROM unnest($1::text[]) AS t(name)
         JOIN pg_attribute a ON a.attrelid = to_regclass(t.name)
         JOIN pg_type ty ON ty.oid = a.atttypid
        WHERE a.attnum > 0 AND NOT a.attisdropped`,
      [tables],
    ),
    pool.query<{ style: string }>(`SELECT current_setting('DateStyle') AS style`),
  ]);
  const byTable = new Map<string, Map<string, Column>>();
  for (const row of columns.rows) {
    let table = byTable.get(row.table_name);
    if (!table) {
      table = new Map();
      byTable.set(row.table_name, table);
    }
    table.set(row.name, { name: row.name, type: row.type, isEnum: row.is_enum, notNull: row.not_null });
  }
  const found = new Map<string, Table>();
  for (const [name, cols] of byTable) {
    if (cols.has('tenant_id') && cols.has('id')) found.set(name, { name, columns: cols });
  }
  return {
    table: (name) => found.get(name),
    isoDates: style.rows[0]?.style.startsWith('ISO') ?? false,
  };
}
