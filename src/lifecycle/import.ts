import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { recordLifecycleEvent } from '../db/lifecycle-events.js';
import { type ExportHeader, schemaVersion } from './export.js';
import { EncryptedValuesUnreadable, type ImportEncryption, reencryptImported } from './reencrypt.js';
import { type TenantTable, tenantTables } from './tables.js';
import { withTenantDatabase } from './tenant-database.js';

export interface ImportOptions {
  /** DATABASE_OWNER_URL: the main database's owner (a member of every dedicated `<db>_owner`). */
  ownerUrl: string;
  /** The tenant the rows go to: the exported one, or another. */
  tenantId: number;
  /** A file `tenants export` wrote. */
  file: string;
  /** Rows per INSERT. @default 1000 */
  batchSize?: number;
  /** Told the rows inserted so far, every few seconds. */
  onProgress?: (rows: number) => void;
  /** Encrypted fields (SPEC §12): re-encrypted into another tenant's key, checked into the same. */
  encryption: ImportEncryption;
}

export interface ImportReport {
  tenant: number;
  /** The tenant the file was exported from. */
  from: number;
  counts: Record<string, number>;
}

/** A refusal the operator can act on (one line, exit 1); nothing was written. */
export class ImportRefused extends Error {}

/**
 * The per-tenant id counters (migrations/004). A tenant whose rows were deleted keeps its
 * counter (requests cannot delete it), so a counter alone does not make a tenant non-empty.
 * The import keeps the greater of the two: ids never go backwards, so an id once handed out
 * (and perhaps still held by a client as a global id) never names a different row.
 */
const COUNTERS = 'app.tenant_row_ids';
const PROGRESS_EVERY_MS = 3_000;
const ident = pg.escapeIdentifier;

/**
 * `tenantql tenants import ID FILE` (SPEC §11): loads an export into a tenant with no rows,
 * in one transaction, in file order (parents first), ids preserved. `tenant_id` becomes the
 * target's; GENERATED ALWAYS columns are overridden and their sequences moved past the ids;
 * the per-tenant id triggers keep given ids and advance the counters (`app.row_ids_given`).
 * Refuses an unknown tenant, a tenant with rows, a file of another schema version, or a file
 * whose rows do not match its header's counts.
 */
export async function importTenant(options: ImportOptions): Promise<ImportReport> {
  const { tenantId, file } = options;
  const handle = await open(file).catch((error: NodeJS.ErrnoException) => {
    throw new ImportRefused(`cannot read ${file} (${error.code ?? error.message})`);
  });
  const lines = createInterface({ input: handle.createReadStream(), crlfDelay: Number.POSITIVE_INFINITY });
  const iterator = lines[Symbol.asyncIterator]();
  try {
    const header = parseHeader(file, await firstLine(iterator));
    return await withTenantDatabase(
      { ownerUrl: options.ownerUrl, tenantId, applicationName: 'tenantql tenants import' },
      (main) => placementOf(main, tenantId),
      async (target, main) => {
        const report = await load(target, header, iterator, { ...options, source: file });
        await recordLifecycleEvent(main, tenantId, 'import', {
          from: header.tenant,
          exportedAt: header.exportedAt,
          rows: Object.values(report.counts).reduce((a, b) => a + b, 0),
          schema: header.schema,
        });
        return report;
      },
    );
  } finally {
    lines.close();
    await handle.close();
  }
}

async function firstLine(lines: AsyncIterator<string>): Promise<string> {
  const first = await lines.next();
  return first.done ? '' : first.value;
}

function parseHeader(file: string, line: string): ExportHeader {
  let header: Partial<ExportHeader> | undefined;
  try {
    header = JSON.parse(line);
  } catch {}
  const counts = header?.counts;
  if (
    !Number.isSafeInteger(header?.tenant) ||
    typeof header?.schema !== 'string' ||
    typeof counts !== 'object' ||
    counts === null ||
    !Object.values(counts).every(Number.isSafeInteger)
  ) {
    throw new ImportRefused(`${file} is not a tenantql export (its first line is no export header)`);
  }
  return header as ExportHeader;
}

/** Where the tenant's rows go: undefined for the shared database, else its own database. */
async function placementOf(main: pg.Client, tenantId: number): Promise<'shared' | 'database'> {
  const { rows } = await main.query<{ isolation: 'shared' | 'database'; kind: string; purged: boolean }>(
    'SELECT isolation, kind, purged_at IS NOT NULL AS purged FROM app.tenants WHERE id = $1',
    [tenantId],
  );
  const tenant = rows[0];
  if (!tenant) throw new ImportRefused(`no tenant ${tenantId} in the tenants table`);
  if (tenant.kind !== 'regular') throw new ImportRefused(`tenant ${tenantId} is not a regular tenant`);
  if (tenant.purged) throw new ImportRefused(`tenant ${tenantId} was purged; its id is not reused`);
  return tenant.isolation;
}

interface Target extends TenantTable {
  /** What an INSERT gives: every column but generated ones. */
  readonly insertable: readonly string[];
  /** Columns with a sequence of their own (identity or serial), with it. */
  readonly sequences: readonly { column: string; sequence: string }[];
}

/**
 * An export's lines (`tenants export`, or `tenants move` copying from one database to another)
 * into `client`'s database, in one transaction; `source` names them in refusals.
 */
export async function importLines(
  client: pg.Client,
  lines: AsyncIterator<string>,
  options: LoadOptions,
): Promise<ImportReport> {
  const header = parseHeader(options.source, await firstLine(lines));
  return load(client, header, lines, options);
}

interface LoadOptions extends Pick<ImportOptions, 'tenantId' | 'batchSize' | 'onProgress'> {
  /** What the lines came from (a file), for refusals. */
  source: string;
  /** Unset only for a copy into the same tenant id (a move), whose key stays the same. */
  encryption?: ImportEncryption;
}

async function load(
  client: pg.Client,
  header: ExportHeader,
  lines: AsyncIterator<string>,
  options: LoadOptions,
): Promise<ImportReport> {
  const { tenantId, source: file } = options;
  const batchSize = options.batchSize ?? 1000;
  await client.query('BEGIN');
  try {
    await client.query("SELECT set_config('app.tenant_id', $1, true)", [String(tenantId)]);
    const here = await schemaVersion(client);
    if (here !== header.schema) {
      throw new ImportRefused(
        `${file} is of another schema version (${header.schema.slice(0, 19)}…, this database ${here.slice(0, 19)}…); migrate both to the same migrations first`,
      );
    }
    const tables = new Map<string, Target>();
    for (const table of await tenantTables(client))
      tables.set(table.name, await describeTable(client, table));
    const withRows: string[] = [];
    for (const name of tables.keys()) {
      if (name === COUNTERS) continue;
      const { rows } = await client.query(`SELECT 1 FROM ${name} WHERE tenant_id = $1 LIMIT 1`, [tenantId]);
      if (rows.length) withRows.push(name);
    }
    if (withRows.length) {
      throw new ImportRefused(
        `tenant ${tenantId} has rows (${withRows.join(', ')}); import needs a tenant without rows`,
      );
    }

    const counts: Record<string, number> = {};
    let batch: { table: Target; lines: string[] } | undefined;
    let inserted = 0;
    let reported = performance.now();
    const flush = async () => {
      if (!batch) return;
      await insert(client, batch.table, batch.lines, tenantId);
      counts[batch.table.name] = (counts[batch.table.name] ?? 0) + batch.lines.length;
      inserted += batch.lines.length;
      batch = undefined;
      if (options.onProgress && performance.now() - reported > PROGRESS_EVERY_MS) {
        options.onProgress(inserted);
        reported = performance.now();
      }
    };
    for (let n = 2; ; n++) {
      const next = await lines.next();
      if (next.done) break;
      if (next.value.trim() === '') continue;
      const table = tables.get(tableOf(next.value) ?? '');
      if (!table) throw new ImportRefused(`${file} line ${n}: not a row of a tenant table of this database`);
      if (batch && (batch.table !== table || batch.lines.length >= batchSize)) await flush();
      batch ??= { table, lines: [] };
      batch.lines.push(next.value);
    }
    await flush();

    for (const name of new Set([...Object.keys(counts), ...Object.keys(header.counts)])) {
      if ((counts[name] ?? 0) !== (header.counts[name] ?? 0)) {
        throw new ImportRefused(
          `${file} has ${counts[name] ?? 0} rows of ${name} where its header says ${header.counts[name] ?? 0}; not a complete export`,
        );
      }
    }
    if (options.encryption) {
      const present = (table: string, column: string) => tables.get(table)?.columns.includes(column) ?? false;
      await reencryptImported(client, options.encryption, present, header.tenant, tenantId, file).catch(
        (error: unknown) => {
          throw error instanceof EncryptedValuesUnreadable ? new ImportRefused(error.message) : error;
        },
      );
    }
    for (const name of Object.keys(counts)) await advanceSequences(client, tables.get(name)!, tenantId);
    if (header.tenant !== tenantId) await rewriteEntityIds(client, tables, header.tenant, tenantId);
    await client.query('COMMIT');
    return { tenant: tenantId, from: header.tenant, counts };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

/** The line's table, if it is `{"table":…,"row":{…}}`; the row is left to PostgreSQL, exact. */
function tableOf(line: string): string | undefined {
  try {
    const parsed = JSON.parse(line) as { table?: unknown; row?: unknown };
    const { row } = parsed;
    if (typeof parsed.table !== 'string' || typeof row !== 'object' || row === null || Array.isArray(row))
      return undefined;
    return parsed.table;
  } catch {
    return undefined;
  }
}

async function describeTable(client: pg.Client, table: TenantTable): Promise<Target> {
  const { rows } = await client.query<{ column: string; generated: boolean; sequence: string | null }>(
    `SELECT a.attname AS column, a.attgenerated <> '' AS generated,
            pg_get_serial_sequence($1, a.attname) AS sequence
       FROM pg_attribute a
      WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [table.name],
  );
  return {
    ...table,
    insertable: rows.filter((r) => !r.generated).map((r) => r.column),
    sequences: rows.flatMap((r) => (r.sequence ? [{ column: r.column, sequence: r.sequence }] : [])),
  };
}

/**
 * One INSERT for a batch of lines: PostgreSQL reads the rows from the JSON (so bigints,
 * timestamps and bytea arrive exactly as `to_jsonb` wrote them), `tenant_id` set to the target.
 */
async function insert(client: pg.Client, table: Target, lines: string[], tenantId: number): Promise<void> {
  const columns = table.insertable.map(ident).join(', ');
  const values = table.insertable
    .map((column) => (column === 'tenant_id' ? '$2::integer' : `r.${ident(column)}`))
    .join(', ');
  const override = table.identityAlways.length ? ' OVERRIDING SYSTEM VALUE' : '';
  // A counter left by deleted rows stays if it is ahead (see COUNTERS).
  const conflict =
    table.name === COUNTERS
      ? ' ON CONFLICT (tenant_id) DO UPDATE SET last_id = greatest(c.last_id, excluded.last_id)'
      : '';
  await client.query(
    `INSERT INTO ${table.name} AS c (${columns})${override}
     SELECT ${values}
       FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS l(line, n),
            jsonb_populate_record(NULL::${table.name}, l.line -> 'row') AS r
      ORDER BY l.n${conflict}`,
    [`[${lines.join(',')}]`, tenantId],
  );
}

/** Identity and serial sequences past the imported ids (never backwards: other tenants draw from them). */
async function advanceSequences(client: pg.Client, table: Target, tenantId: number): Promise<void> {
  for (const { column, sequence } of table.sequences) {
    await client.query(
      `SELECT setval($1::regclass, greatest(m, coalesce(pg_sequence_last_value($1::regclass), 0)))
         FROM (SELECT max(${ident(column)})::bigint AS m FROM ${table.name} WHERE tenant_id = $2) AS s
        WHERE m IS NOT NULL`,
      [sequence, tenantId],
    );
  }
}

/**
 * The one column rows keep a global id in (base64url of `<Type>:<tenant>:<row id>`, see
 * src/graphql/ids.ts): the audit log's `entity_id`. Into another tenant, it must name the
 * target, or the entry would point at nothing. Other columns hold raw row ids.
 */
async function rewriteEntityIds(
  client: pg.Client,
  tables: ReadonlyMap<string, Target>,
  from: number,
  to: number,
): Promise<void> {
  if (!tables.get('app.audit_log')?.columns.includes('entity_id')) return;
  // Decoded with 'escape', which never fails: a value that is no global id is left alone.
  await client.query(
    `UPDATE app.audit_log AS a
        SET entity_id = rtrim(translate(replace(encode(convert_to(
              split_part(e.d, ':', 1) || ':' || $2 || ':' || split_part(e.d, ':', 3), 'UTF8'),
              'base64'), E'\\n', ''), '+/', '-_'), '=')
       FROM (SELECT id, CASE WHEN entity_id ~ '^[A-Za-z0-9_-]{1,64}$' AND length(entity_id) % 4 <> 1
                  THEN encode(decode(rpad(translate(entity_id, '-_', '+/'),
                         (length(entity_id) + 3) / 4 * 4, '='), 'base64'), 'escape') END AS d
               FROM app.audit_log WHERE tenant_id = $3) AS e
      WHERE a.tenant_id = $3 AND a.id = e.id
        AND e.d ~ '^[A-Za-z]+:[0-9]+:[0-9]+$' AND split_part(e.d, ':', 2) = $1`,
    [String(from), String(to), to],
  );
}
