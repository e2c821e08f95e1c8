import { createInterface } from 'node:readline';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { announcePlacement } from '../cache/placement-notices.js';
import type { Config } from '../config.js';
import { recordLifecycleEvent } from '../db/lifecycle-events.js';
import { connectionUrl } from '../db/setup.js';
import { type Place, WRITE_PAUSE_LOCK_CLASS } from '../db/write-pause.js';
import type { Tenant } from '../tenancy/tenants-file.js';
import { dropDedicatedDatabase } from '../tiers/drop.js';
import { dedicatedNames } from '../tiers/names.js';
import { lockTenantCommands, prepareDedicatedDatabase, requireSuperuser } from '../tiers/provision.js';
import { exportSnapshot } from './export.js';
import { importLines } from './import.js';
import { deleteTenantRows as deleteRows, tenantTables } from './tables.js';

export interface MoveOptions {
  /** DATABASE_SUPERUSER_URL: creates or drops the tenant's database and roles. */
  superuserUrl: string;
  /** The main (shared) database. */
  mainDatabase: string;
  /** The tenant, as the tenants file has it. */
  tenant: Tenant;
  to: Place;
  /** The file's virtual tenants (a new database gets their rows, as at provision). */
  virtualTenants: readonly Tenant[];
  productMigrations?: string | undefined;
  /** TENANT_SECRETS_FILE. */
  secretsFile: string;
  /** Where the switch is announced; without it instances learn it from their next write or reload. */
  valkey: Pick<Config, 'valkeyUrl' | 'valkeyClusterNodes'>;
  /** How long the pause waits for the tenant's running writes. @default 10000 */
  pauseWaitMs?: number;
  /** Between the switch and deleting the old rows: reads already under way there finish. @default 2000 */
  graceMs?: number;
  /** Told each step as it begins (a progress line on stderr). */
  onStep?: (step: MoveStep, detail?: string) => void;
}

export type MoveStep = 'prepare' | 'pause' | 'copy' | 'verify' | 'switch' | 'delete' | 'done';

export interface MoveReport {
  tenant: number;
  from: Place;
  to: Place;
  /** The tenant was there already: this run only finished an earlier one's deletion, if any. */
  alreadyThere: boolean;
  /** The rows copied, per table (empty when the tenant was there already). */
  rows: Record<string, number>;
  /** From the moment no new write could begin to the switch: what writers saw as 503. */
  writePauseMs: number;
  /** Instances that heard the switch through Valkey; null without Valkey. */
  instancesNotified: number | null;
  /** Rows deleted from the old place (this run, or finishing an interrupted one). */
  oldRowsDeleted: number;
  /** The tenant's database was dropped (a move to shared). */
  databaseDropped: boolean;
}

/** A refusal the operator can act on (one line, exit 1); the tenant is served as before. */
export class MoveRefused extends Error {}

const APPLICATION_NAME = 'tenantql tenants move';

/**
 * `tenantql tenants move ID --to shared|database` (SPEC §11). The placement in the main
 * database's tenants table is the commit point, and every step before it leaves the tenant
 * where it is:
 *
 * 1. prepare: the new place is made ready (a database and roles for `database`), and rows an
 *    interrupted run left there are cleared — they are no one's until the switch.
 * 2. pause: the exclusive write-pause lock in the old place (db/write-pause.ts): no new write
 *    begins there (503 TENANT_READ_ONLY), running ones finish; reads go on.
 * 3. copy: every tenant table from one REPEATABLE READ snapshot, through the export and import
 *    code, in one transaction at the new place.
 * 4. verify: a count and a checksum of every table, in both places.
 * 5. switch: the placement flips (a move out of a dedicated database first marks the tenant
 *    gone in that database, so no late write can land there); Valkey tells every instance,
 *    and an instance that did not hear is refused at the old place by the same fence, and
 *    reads the placements again. The pause ends here.
 * 6. delete: after a grace for reads under way, the old rows go (the database too, for a move
 *    to shared).
 *
 * The pause is a session lock: a move killed at any step lifts it. Run again, a move before
 * the switch starts over; after it, only the deletion is left, and that is what it does.
 */
export async function moveTenant(options: MoveOptions): Promise<MoveReport> {
  const { tenant, to } = options;
  const step = options.onStep ?? (() => {});
  if (tenant.kind !== 'regular') throw new MoveRefused(`tenant ${tenant.id} is not a regular tenant`);
  const main = await connect(connectionUrl(options.superuserUrl, options.mainDatabase));
  const names = dedicatedNames(options.mainDatabase, tenant.id);
  const urlOf = (place: Place) =>
    connectionUrl(options.superuserUrl, place === 'database' ? names.database : options.mainDatabase);
  const opened = new Set<pg.Client>();
  const open = async (place: Place) => {
    const client = await connect(urlOf(place));
    opened.add(client);
    return client;
  };
  const close = async (client: pg.Client) => {
    opened.delete(client);
    await client.end();
  };
  try {
    await requireSuperuser(main);
    await lockTenantCommands(main, tenant.id);
    const from = await placementOf(main, tenant.id);
    const report: MoveReport = {
      tenant: tenant.id,
      from,
      to,
      alreadyThere: from === to,
      rows: {},
      writePauseMs: 0,
      instancesNotified: null,
      oldRowsDeleted: 0,
      databaseDropped: false,
    };
    if (from === to) {
      // Already there: finish what an interrupted run left after its switch, if anything.
      await deleteOldPlace(to === 'database' ? 'shared' : 'database', report, open, close, main, options);
      step('done');
      return report;
    }

    step('prepare', to === 'database' ? names.database : options.mainDatabase);
    if (to === 'database') await prepareDedicatedDatabase(main, { ...options, tenant });
    const source = await open(from);
    const target = await open(to);
    await deleteRows(target, tenant.id);

    step('pause');
    const pause = await open(from);
    await pause.query(`SET lock_timeout = ${Math.trunc(options.pauseWaitMs ?? 10_000)}`);
    const pausedAt = performance.now();
    try {
      await pause.query('SELECT pg_advisory_lock($1, $2)', [WRITE_PAUSE_LOCK_CLASS, tenant.id]);
    } catch (error) {
      if ((error as { code?: string }).code !== '55P03') throw error;
      throw new MoveRefused(
        `the writes of tenant ${tenant.id} did not finish within ${options.pauseWaitMs ?? 10_000} ms; nothing was moved, retry`,
      );
    }

    step('copy');
    report.rows = await copyRows(source, target, tenant.id);

    step('verify');
    const [before, after] = await Promise.all([checksums(source, tenant.id), checksums(target, tenant.id)]);
    for (const [table, sum] of before) {
      const copied = after.get(table);
      if (copied?.n !== sum.n || copied.sum !== sum.sum) {
        // The copy is no one's (the placement did not change): it goes, the tenant stays.
        await deleteRows(target, tenant.id).catch(() => {});
        throw new MoveRefused(
          `${table} differs after the copy (${sum.n} rows at ${from}, ${copied?.n ?? 0} at ${to}); the tenant stays at ${from}`,
        );
      }
    }

    step('switch');
    // Out of a dedicated database: that database says first that the rows are gone from it,
    // then the main database says where they are. Killed in between, the tenant's writes are
    // refused (never lost) until the move is run again.
    if (from === 'database') await markPlacement(source, tenant.id, 'shared');
    await markPlacement(main, tenant.id, to);
    report.writePauseMs = Math.round(performance.now() - pausedAt);
    await close(pause);
    report.instancesNotified = (await announcePlacement(options.valkey, tenant.id)) ?? null;

    await sleep(options.graceMs ?? 2_000);
    await close(source);
    await close(target);
    await deleteOldPlace(from, report, open, close, main, options);
    await recordLifecycleEvent(main, tenant.id, 'move', {
      from,
      to,
      rows: Object.values(report.rows).reduce((a, b) => a + b, 0),
      writePauseMs: report.writePauseMs,
      instancesNotified: report.instancesNotified,
    });
    step('done');
    return report;
  } finally {
    for (const client of opened) await client.end().catch(() => {});
    await main.end(); // ends the session, and with it the tenant-commands lock
  }
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: url,
    application_name: APPLICATION_NAME,
    // A move killed while one of its statements waits for a lock must not go on in the server
    // once the lock is free (an UPDATE of the placement would commit for no one): PostgreSQL
    // checks the client is still there while it waits, and ends the session when it is not.
    options: '-c client_connection_check_interval=250',
  });
  // A connection lost while idle (the pause session, between statements) is reported by the next
  // statement on any session; unheard, pg's 'error' event would end the process with a stack.
  client.on('error', () => {});
  await client.connect();
  return client;
}

async function placementOf(main: pg.Client, tenantId: number): Promise<Place> {
  const { rows } = await main.query<{ isolation: Place; purged: boolean }>(
    'SELECT isolation, purged_at IS NOT NULL AS purged FROM app.tenants WHERE id = $1',
    [tenantId],
  );
  if (!rows[0]) {
    throw new MoveRefused(
      `no tenant ${tenantId} in the tenants table (\`tenantql tenants provision ${tenantId}\`)`,
    );
  }
  if (rows[0].purged) throw new MoveRefused(`tenant ${tenantId} was purged`);
  return rows[0].isolation;
}

async function markPlacement(client: pg.Client, tenantId: number, place: Place): Promise<void> {
  await client.query('UPDATE app.tenants SET isolation = $2, updated_at = now() WHERE id = $1', [
    tenantId,
    place,
  ]);
}

/** The export of the old place streamed into an import at the new place: one snapshot, one transaction. */
async function copyRows(
  source: pg.Client,
  target: pg.Client,
  tenantId: number,
): Promise<Record<string, number>> {
  const stream = new PassThrough();
  const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
  const exported = exportSnapshot(source, { tenantId, out: stream }).then(
    () => stream.end(),
    (error: Error) => {
      stream.destroy(error);
      throw error;
    },
  );
  const imported = importLines(target, lines[Symbol.asyncIterator](), { tenantId, source: 'the copy' });
  try {
    const [report] = await Promise.all([imported, exported]);
    return report.counts;
  } catch (error) {
    // One side failed: stop the other (an export waiting for room in the stream too), and let
    // both end before the caller closes their connections.
    stream.destroy(new Error('the copy stopped'));
    await Promise.allSettled([imported, exported]);
    throw error;
  } finally {
    lines.close();
  }
}

/** A count and an order-independent checksum of the tenant's rows, per table (rows as PostgreSQL prints them). */
async function checksums(
  client: pg.Client,
  tenantId: number,
): Promise<Map<string, { n: number; sum: string }>> {
  const sums = new Map<string, { n: number; sum: string }>();
  for (const table of await tenantTables(client)) {
    const { rows } = await client.query<{ n: number; sum: string }>(
      `SELECT count(*)::int AS n, md5(coalesce(string_agg(h, '' ORDER BY h), '')) AS sum
         FROM (SELECT md5(x::text) AS h FROM ${table.name} x WHERE tenant_id = $1) AS rows`,
      [tenantId],
    );
    sums.set(table.name, rows[0]!);
  }
  return sums;
}

/** After the switch: the rows at `old` go; a database of its own goes with its roles. */
async function deleteOldPlace(
  old: Place,
  report: MoveReport,
  open: (place: Place) => Promise<pg.Client>,
  close: (client: pg.Client) => Promise<void>,
  main: pg.Client,
  options: MoveOptions,
): Promise<void> {
  const names = dedicatedNames(options.mainDatabase, report.tenant);
  if (old === 'shared') {
    options.onStep?.('delete', `rows of tenant ${report.tenant} in ${options.mainDatabase}`);
    const rows = await open('shared');
    report.oldRowsDeleted = await deleteRows(rows, report.tenant);
    await close(rows);
    return;
  }
  const { rowCount } = await main.query('SELECT 1 FROM pg_database WHERE datname = $1', [names.database]);
  if (rowCount === 0) return;
  options.onStep?.('delete', names.database);
  // Rows first, in a transaction of their own: the database's end is then only its drop.
  const rows = await open('database');
  report.oldRowsDeleted = await deleteRows(rows, report.tenant);
  await close(rows);
  await dropDedicatedDatabase(main, options.mainDatabase, report.tenant, options.secretsFile);
  report.databaseDropped = true;
}
