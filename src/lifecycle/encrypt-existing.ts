import pg from 'pg';
import type { DataKeys } from '../crypto/data-keys.js';
import { type EncryptedColumn, FieldEncryption } from '../crypto/field-encryption.js';
import { silentLogger } from '../observability/logger.js';
import { withTenantDatabase } from './tenant-database.js';

export interface EncryptExistingOptions {
  /** DATABASE_OWNER_URL: the main database's owner (a member of every dedicated `<db>_owner`). */
  ownerUrl: string;
  columns: readonly EncryptedColumn[];
  dataKeys: DataKeys;
  /** Values per transaction. @default 500 */
  batchSize?: number;
  /** Told each tenant's count once it is done. */
  onTenant?: (tenantId: number, encrypted: number) => void;
}

export interface EncryptExistingReport {
  tenants: number;
  /** Values encrypted by this run, per column (`table.column`). */
  encrypted: Record<string, number>;
  /**
   * Values left in plaintext: their hash is another row's (the same email written since the
   * column was encrypted). Resolve those rows and run again.
   */
  conflicts: { tenant: number; column: string; rows: number }[];
}

const ident = pg.escapeIdentifier;
const PLAINTEXT = '^tq[0-9]+:';
const UNIQUE_VIOLATION = '23505';

/**
 * `tenantql keys encrypt-existing` (SPEC §12): the values of the product's encrypted columns
 * stored before the column was encrypted, encrypted in place with their tenant's key (and hashed),
 * tenant by tenant, wherever its rows are, `batchSize` values per committed transaction under
 * the tenant's row security. Resumable: only plaintext values are picked, so a run stopped
 * midway is finished by running it again; a finished run finds nothing.
 */
export async function encryptExisting(options: EncryptExistingOptions): Promise<EncryptExistingReport> {
  const report: EncryptExistingReport = { tenants: 0, encrypted: {}, conflicts: [] };
  if (options.columns.length === 0) return report;
  const tenants = await tenantIds(options.ownerUrl);
  for (const { id, isolation } of tenants) {
    report.tenants++;
    let done = 0;
    await withTenantDatabase(
      { ownerUrl: options.ownerUrl, tenantId: id, applicationName: 'tenantql keys encrypt-existing' },
      async () => isolation,
      async (rows) => {
        const encryption = { encryption: new FieldEncryption(id, options.dataKeys, silentLogger) };
        for (const column of options.columns) {
          if (!(await hasColumns(rows, column))) continue;
          const { encrypted, conflicts } = await encryptColumn(
            rows,
            column,
            id,
            encryption,
            options.batchSize,
          );
          report.encrypted[column.name] = (report.encrypted[column.name] ?? 0) + encrypted;
          if (conflicts > 0) report.conflicts.push({ tenant: id, column: column.name, rows: conflicts });
          done += encrypted;
        }
      },
    );
    options.onTenant?.(id, done);
  }
  return report;
}

async function tenantIds(ownerUrl: string): Promise<{ id: number; isolation: 'shared' | 'database' }[]> {
  const client = new pg.Client({
    connectionString: ownerUrl,
    application_name: 'tenantql keys encrypt-existing',
  });
  await client.connect();
  try {
    const { rows } = await client.query<{ id: number; isolation: 'shared' | 'database' }>(
      'SELECT id, isolation FROM app.tenants WHERE purged_at IS NULL ORDER BY id',
    );
    return rows;
  } finally {
    await client.end();
  }
}

async function hasColumns(client: pg.Client, column: EncryptedColumn): Promise<boolean> {
  const [schema, table] = column.table.split('.');
  const wanted = [column.column, ...(column.hashColumn ? [column.hashColumn] : [])];
  const { rows } = await client.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM information_schema.columns
      WHERE table_schema = $1 AND table_name = $2 AND column_name = ANY($3)`,
    [schema, table, wanted],
  );
  return rows[0]!.n === wanted.length;
}

async function encryptColumn(
  client: pg.Client,
  column: EncryptedColumn,
  tenantId: number,
  scope: { encryption: FieldEncryption },
  batchSize = 500,
): Promise<{ encrypted: number; conflicts: number }> {
  let encrypted = 0;
  const skipped: string[] = []; // rows whose hash is taken: left as they are
  for (;;) {
    await client.query('BEGIN');
    try {
      await client.query("SELECT set_config('app.tenant_id', $1, true)", [String(tenantId)]);
      const { rows } = await client.query<{ ctid: string; value: string }>(
        `SELECT ctid::text, ${ident(column.column)} AS value FROM ${column.table}
          WHERE tenant_id = $1 AND ${ident(column.column)} !~ $2 AND NOT (ctid = ANY($3::tid[]))
          ORDER BY ctid LIMIT $4 FOR UPDATE`,
        [tenantId, PLAINTEXT, skipped, batchSize],
      );
      if (rows.length === 0) {
        await client.query('COMMIT');
        return { encrypted, conflicts: skipped.length };
      }
      for (const row of rows) {
        const value = await column.encrypt(scope, row.value);
        const hashSet = column.hashColumn ? `, ${ident(column.hashColumn)} = $3` : '';
        const values: unknown[] = [row.ctid, value];
        if (column.hashColumn) values.push(await column.hash(scope, row.value));
        // One savepoint per value: a taken hash skips that row, not the batch.
        await client.query('SAVEPOINT one_value');
        try {
          await client.query(
            `UPDATE ${column.table} SET ${ident(column.column)} = $2${hashSet} WHERE ctid = $1::tid`,
            values,
          );
          await client.query('RELEASE SAVEPOINT one_value');
          encrypted++;
        } catch (error) {
          if ((error as { code?: string }).code !== UNIQUE_VIOLATION) throw error;
          await client.query('ROLLBACK TO SAVEPOINT one_value');
          skipped.push(row.ctid);
        }
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    }
  }
}
