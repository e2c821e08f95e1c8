import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import pg from 'pg';
import { recordLifecycleEvent } from '../db/lifecycle-events.js';
import { type TenantTable, tenantTables } from './tables.js';
import { withTenantDatabase } from './tenant-database.js';

export interface ExportOptions {
  /** DATABASE_OWNER_URL: the main database's owner (a member of every dedicated `<db>_owner`). */
  ownerUrl: string;
  tenantId: number;
  /** Where the JSON lines go (a file, stdout). */
  out: Writable;
  /** Rows fetched per round trip. @default 1000 */
  batchSize?: number;
  /** Told the rows written so far, every few seconds (a progress line for long exports). */
  onProgress?: (rows: number) => void;
}

export interface ExportHeader {
  tenant: number;
  exportedAt: string;
  /** A hash of the migrations applied where the rows are: an import checks it. */
  schema: string;
  counts: Record<string, number>;
}

const ident = pg.escapeIdentifier;
const PROGRESS_EVERY_MS = 3_000;

/**
 * `tenantql tenants export ID` (SPEC §11): every row of the tenant, from one REPEATABLE READ,
 * READ ONLY snapshot, as JSON lines after one header line. The tables come from the catalog
 * (src/lifecycle/tables.ts), parents first, so a product's tables are exported unnamed; rows
 * in primary-key order, fetched through a cursor so memory stays constant. Values are as
 * `to_jsonb` gives them (bigints and timestamps exact). A dedicated tenant is read in its own
 * database, as its owner. The transaction sets `app.tenant_id`, so the owner (under FORCE
 * row level security) sees this tenant's rows and no other's.
 */
export async function exportTenant(options: ExportOptions): Promise<ExportHeader> {
  const { tenantId } = options;
  return withTenantDatabase(
    { ownerUrl: options.ownerUrl, tenantId, applicationName: 'tenantql tenants export' },
    async (main) => {
      const { rows } = await main.query<{ isolation: 'shared' | 'database' }>(
        'SELECT isolation FROM app.tenants WHERE id = $1',
        [tenantId],
      );
      if (!rows[0]) throw new ExportRefused(`no tenant ${tenantId} in the tenants table`);
      return rows[0].isolation;
    },
    async (source, main) => {
      const header = await exportSnapshot(source, options);
      await recordLifecycleEvent(main, tenantId, 'export', {
        rows: total(header.counts),
        schema: header.schema,
      });
      return header;
    },
  );
}

export class ExportRefused extends Error {}

/** The rows of `options.tenantId` that `client` (in the database they are in) sees, as an export. */
export async function exportSnapshot(
  client: pg.Client,
  options: Pick<ExportOptions, 'tenantId' | 'out' | 'batchSize' | 'onProgress'>,
): Promise<ExportHeader> {
  const { tenantId, out } = options;
  const batch = options.batchSize ?? 1000;
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
  try {
    await client.query("SELECT set_config('app.tenant_id', $1, true)", [String(tenantId)]);
    const tables = await tenantTables(client);
    const counts: Record<string, number> = {};
    for (const table of tables) {
      const { rows } = await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${table.name} WHERE tenant_id = $1`,
        [tenantId],
      );
      counts[table.name] = rows[0]!.n;
    }
    const header: ExportHeader = {
      tenant: tenantId,
      exportedAt: new Date().toISOString(),
      schema: await schemaVersion(client),
      counts,
    };
    await write(out, `${JSON.stringify(header)}\n`);
    let written = 0;
    let reported = performance.now();
    for (const table of tables) {
      if (counts[table.name] === 0) continue;
      const order = (await primaryKey(client, table)).map(ident).join(', ') || '1';
      await client.query(
        // As text, spliced in as it is: parsed here, a bigint past 2^53 would lose digits.
        `DECLARE tenant_rows NO SCROLL CURSOR FOR SELECT to_jsonb(x)::text AS row FROM ${table.name} x WHERE tenant_id = $1 ORDER BY ${order}`,
        [tenantId],
      );
      for (;;) {
        const { rows } = await client.query<{ row: string }>(`FETCH ${Math.trunc(batch)} FROM tenant_rows`);
        if (rows.length === 0) break;
        const prefix = `{"table":${JSON.stringify(table.name)},"row":`;
        await write(out, rows.map(({ row }) => `${prefix}${row}}\n`).join(''));
        written += rows.length;
        if (options.onProgress && performance.now() - reported > PROGRESS_EVERY_MS) {
          options.onProgress(written);
          reported = performance.now();
        }
      }
      await client.query('CLOSE tenant_rows');
    }
    await client.query('COMMIT');
    return header;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

/** The applied migrations (names and checksums), hashed: equal only for the same schema. */
export async function schemaVersion(client: pg.Client): Promise<string> {
  const { rows } = await client.query<{ name: string; checksum: string }>(
    'SELECT name, checksum FROM app_meta.migrations ORDER BY name',
  );
  const hash = createHash('sha256');
  for (const { name, checksum } of rows) hash.update(`${name}\t${checksum}\n`);
  return `sha256:${hash.digest('hex')}`;
}

async function primaryKey(client: pg.Client, table: TenantTable): Promise<string[]> {
  const { rows } = await client.query<{ column: string }>(
    `SELECT a.attname AS column
       FROM pg_index i
       JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) ON true
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE i.indrelid = $1::regclass AND i.indisprimary
      ORDER BY k.n`,
    [table.name],
  );
  return rows.map((r) => r.column);
}

async function write(out: Writable, text: string): Promise<void> {
  if (!out.write(text)) await once(out, 'drain');
}

const total = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
