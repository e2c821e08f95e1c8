import { request } from 'node:http';
import { join } from 'node:path';
import pg from 'pg';
import { signToken } from '../src/auth/verify.js';
import { connectionUrl } from '../src/db/setup.js';
import { demoMigrationsDir } from '../src/example/migrations.js';
import { tenantTables } from '../src/lifecycle/tables.js';
import { parseTenantsFile } from '../src/tenancy/tenants-file.js';
import { databaseOf, dedicatedNames } from '../src/tiers/names.js';
import { provisionTenant } from '../src/tiers/provision.js';
import { hostOf, QUERIES, tenantsFile, writeJsonAtomically, writeRequests } from './fixtures.js';
import { seededTenantIds } from './seed.js';
import { type Bench, POOL_MAX, WORK_DIR } from './setup.js';
import { type Measurement, wrk } from './wrk.js';

/**
 * Isolation tiers (SPEC §10, docs/performance.md): scenario C for one seeded tenant served
 * shared, and for a copy of it with a database of its own, interleaved on one server; and the
 * first request of a dedicated tenant whose pool has closed (cold) against the next one (warm).
 */
export interface TiersResult {
  shared: Measurement[];
  dedicated: Measurement[];
  /** Median req/s, dedicated / shared. */
  ratio: number;
  cold: { medianMs: number; p95Ms: number };
  warm: { medianMs: number; p95Ms: number };
}

/**
 * The dedicated copy's id: a regular tenant outside the seeded range and outside the 10,000-tenant
 * file's (1000–10999). Its row stays in the bench database with its own database between runs
 * (provisioning again keeps both): inside that range, every later start of F's and R's servers,
 * whose file has it shared, was refused ("its rows are in a database of its own").
 */
const DEDICATED = 20_000;
/** Short, so a pause of twice this closes the copy's pool between cold samples. */
const IDLE_MS = 300;
const COLD_SAMPLES = 20;

export async function tiersScenario(
  bench: Bench,
  timing: { warmupSeconds: number; seconds: number; rounds: number; connections: number },
  log: (line: string) => void,
): Promise<TiersResult> {
  const source = seededTenantIds()[0]!;
  const file = tenantsFile(seededTenantIds().length);
  file.tenants.push({
    id: DEDICATED,
    subdomain: `b${DEDICATED}`,
    name: 'Bench dedicated',
    isolation: 'database',
  } as never);
  const tenantsPath = join(WORK_DIR, 'tenants-tiers.json');
  await writeJsonAtomically(tenantsPath, file);
  const secretsFile = join(WORK_DIR, 'secrets', 'tenants.json');
  const parsed = parseTenantsFile(JSON.stringify(file));
  if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
  const started = performance.now();
  await provisionTenant({
    superuserUrl: bench.postgres.superuserUrl,
    mainDatabase: databaseOf(bench.postgres.databaseUrl),
    tenant: parsed.config.tenants.find((t) => t.id === DEDICATED)!,
    virtualTenants: [],
    productMigrations: demoMigrationsDir,
    secretsFile,
  });
  const rows = await copyTenant(bench, source, DEDICATED);
  log(
    `tiers: tenant ${DEDICATED} provisioned and given tenant ${source}'s ${rows} rows in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );

  const server = await bench.startTenantql('tiers', {
    tenantsFile: tenantsPath,
    cacheTtlSeconds: 0,
    env: {
      TENANT_SECRETS_FILE: secretsFile,
      PG_TENANT_POOL_IDLE_MS: String(IDLE_MS),
      // The dedicated budget as large as the runtime pool (10 + 2 reserve + 2 admin + 10), so
      // the two tiers are compared with the same number of connections.
      PG_MAX_CONNECTIONS_TOTAL: String(POOL_MAX + 2 + 2 + POOL_MAX),
    },
  });
  const token = async (tenantId: number) =>
    `Bearer ${await signToken({ kind: 'user', secret: bench.tokens.secret, subject: 'bench', tenantClaim: 'tid', tenantId, ttl: '1h' })}`;
  const body = JSON.stringify({ query: QUERIES.nested });
  const files = {
    shared: await writeRequests(WORK_DIR, 'tiers-shared', [
      { host: hostOf(source), authorization: await token(source), body },
    ]),
    dedicated: await writeRequests(WORK_DIR, 'tiers-dedicated', [
      { host: hostOf(DEDICATED), authorization: await token(DEDICATED), body },
    ]),
  };
  const result: TiersResult = { shared: [], dedicated: [], ratio: 0, cold: zero(), warm: zero() };
  for (let round = 1; round <= timing.rounds; round++) {
    for (const tier of ['shared', 'dedicated'] as const) {
      const options = { port: server.port, requestsFile: files[tier], connections: timing.connections };
      await wrk({ ...options, seconds: timing.warmupSeconds });
      const m = await wrk({ ...options, seconds: timing.seconds });
      result[tier].push(m);
      log(
        `round ${round} tiers ${tier}: ${m.rps.toFixed(0)} req/s, p50 ${m.p50Ms.toFixed(2)} ms, ${m.errors} errors`,
      );
    }
  }
  result.ratio = median(result.dedicated.map((m) => m.rps)) / median(result.shared.map((m) => m.rps));

  // Cold: the pool closed after IDLE_MS; the request opens a connection (and logs in) first.
  const headers = { host: hostOf(DEDICATED), authorization: await token(DEDICATED) };
  const cold: number[] = [];
  const warm: number[] = [];
  for (let i = 0; i < COLD_SAMPLES; i++) {
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS * 2 + 100));
    cold.push(await timeRequest(server.port, headers, body));
    warm.push(await timeRequest(server.port, headers, body));
  }
  result.cold = spread(cold);
  result.warm = spread(warm);
  await server.stop();
  return result;
}

/** Every row of `from` in the shared database, as `to`'s, into `to`'s own database (ids kept). */
async function copyTenant(bench: Bench, from: number, to: number): Promise<number> {
  const main = new pg.Client({ connectionString: bench.postgres.superuserDbUrl });
  const own = new pg.Client({
    connectionString: connectionUrl(
      bench.postgres.superuserUrl,
      dedicatedNames(databaseOf(bench.postgres.databaseUrl), to).database,
    ),
  });
  await Promise.all([main.connect(), own.connect()]);
  try {
    const tables = await tenantTables(own);
    await own.query('BEGIN');
    for (const table of [...tables].reverse())
      await own.query(`DELETE FROM ${table.name} WHERE tenant_id = $1`, [to]);
    let copied = 0;
    for (const table of tables) {
      // The id counters follow the rows by themselves (migrations/004: given ids advance them).
      if (table.name === 'app.tenant_row_ids') continue;
      const { rows } = await main.query<{ r: Record<string, unknown> }>(
        `SELECT to_jsonb(x) AS r FROM ${table.name} x WHERE tenant_id = $1`,
        [from],
      );
      if (rows.length === 0) continue;
      const records = rows.map(({ r }) => ({ ...r, tenant_id: to }));
      const overriding = table.identityAlways.length > 0 ? 'OVERRIDING SYSTEM VALUE' : '';
      await own.query(
        `INSERT INTO ${table.name} ${overriding} SELECT * FROM jsonb_populate_recordset(NULL::${table.name}, $1::jsonb)`,
        [JSON.stringify(records)],
      );
      copied += rows.length;
    }
    await own.query('COMMIT');
    await own.query('ANALYZE');
    return copied;
  } finally {
    await Promise.all([main.end(), own.end()]);
  }
}

function timeRequest(port: number, headers: Record<string, string>, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/graphql',
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode === 200
            ? resolve(performance.now() - started)
            : reject(new Error(`status ${res.statusCode}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const zero = () => ({ medianMs: 0, p95Ms: 0 });
function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
function spread(values: number[]): { medianMs: number; p95Ms: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    medianMs: median(sorted),
    p95Ms: sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.95) - 1)]!,
  };
}

/** The lines of the report. */
export function tiersLines(r: TiersResult): string {
  const rps = (list: Measurement[]) => median(list.map((m) => m.rps)).toFixed(0);
  return [
    `Tiers (C for one tenant): shared ${rps(r.shared)} req/s, dedicated ${rps(r.dedicated)} req/s, ratio ${r.ratio.toFixed(3)} (goal ≥ 0.90).`,
    `Cold dedicated pool, first request: median ${r.cold.medianMs.toFixed(2)} ms, p95 ${r.cold.p95Ms.toFixed(2)} ms; warm: median ${r.warm.medianMs.toFixed(2)} ms, p95 ${r.warm.p95Ms.toFixed(2)} ms.`,
  ].join('\n');
}
