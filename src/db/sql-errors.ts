import { AppError, badUserInput, notFound, timeout } from '../errors.js';
import type { Pool } from './pool.js';

/**
 * What the catalog says about a product's tables, for error messages. Module state, like the
 * schema builder: type files register their tables when they are imported, and the server
 * reads the foreign keys once at start (`learnForeignKeys`).
 */
const typeOfTable = new Map<string, string>();
/** `<schema>.<table>:<constraint>` of each foreign key -> the `<schema>.<table>` it references. */
const referencedTable = new Map<string, string>();
/** Unique constraints whose violation the client caused and may hear about, by constraint name. */
const uniqueMessages = new Map<string, string>();

/** `table` (`app.projects`) holds the rows of GraphQL type `typename`. */
export function registerTableType(table: string, typename: string): void {
  typeOfTable.set(table, typename);
}

/** The message a violation of unique constraint (or index) `constraint` answers with. */
export function registerUniqueMessage(constraint: string, message: string): void {
  uniqueMessages.set(constraint, message);
}

/** Reads every foreign key of the database (the catalog is readable by the runtime role). */
export async function learnForeignKeys(pool: Pool): Promise<void> {
  const { rows } = await pool.query<{ key: string; referenced: string }>(
    `SELECT format('%s.%s:%s', n.nspname, c.relname, k.conname) AS key,
                  format('%s.%s', rn.nspname, r.relname) AS referenced
             FROM pg_constraint k
             JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_class r ON r.oid = k.confrelid JOIN pg_namespace rn ON rn.oid = r.relnamespace
            WHERE k.contype = 'f'`,
  );
  for (const row of rows) referencedTable.set(row.key, row.referenced);
}

interface SqlError {
  code: string;
  constraint?: string;
  schema?: string;
  table?: string;
}

function hasCode(error: unknown): error is SqlError {
  return (
    typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string'
  );
}

/**
 * Foreign keys are composite (tenant_id, x_id), so a reference to another tenant's row fails
 * exactly like a reference to a row that never existed: "<Type> not found.", the type being
 * the one whose table the key references.
 */
function referencedType(error: SqlError): string | undefined {
  const table = referencedTable.get(`${error.schema}.${error.table}:${error.constraint}`);
  return table && typeOfTable.get(table);
}

/**
 * SQLSTATE -> AppError. Nothing of PostgreSQL's message or DETAIL reaches the client (they can
 * echo another tenant's values); anything unexpected stays an ordinary error and is masked.
 */
export function mapSqlError(error: unknown): unknown {
  if (error instanceof AppError || !hasCode(error)) return error;
  switch (error.code) {
    case '57014': // query_canceled: statement_timeout
      return timeout();
    case '23505': // unique_violation
      return badUserInput(uniqueMessages.get(error.constraint ?? '') ?? 'This value is already taken.');
    case '23503': // foreign_key_violation: a referenced row this tenant cannot see
      return notFound(referencedType(error));
    case '23514': // check_violation
    case '23502': // not_null_violation
    case '22001': // string too long
    case '22P02': // invalid text representation
    case '22003': // numeric out of range
      return badUserInput('The input is not valid.');
    default:
      return error;
  }
}
