import { spawn } from 'node:child_process';
import { treeCpuMs } from './cpu.js';
import type { Child } from './processes.js';
import { seededTenantIds } from './seed.js';
import type { Bench } from './setup.js';
import { type Measurement, wrk } from './wrk.js';

export type ServerName =
  | 'hello'
  | 'helloNoBodyStream'
  | 'main'
  | 'unnamed'
  | 'resolvers'
  | 'ungated'
  | 'cached'
  | 'big'
  | 'postgraphile'
  /** BENCH_BASELINE's code (bench/baseline.ts), configured as `main`, `cached` and `big`. */
  | 'baseline'
  | 'baselineCached'
  | 'baselineBig';

/** The servers that run BENCH_BASELINE's code: their scenarios exist only when it is set. */
export const isBaselineServer = (server: Scenario['server']) => server.startsWith('baseline');
export type Servers = Partial<Record<ServerName, Child>>;

export interface Scenario {
  key: string;
  title: string;
  server: ServerName | 'raw';
  requests?: keyof Bench['requests'];
}

/** In the order each round runs them; docs/performance.md says what each one tells. */
export const SCENARIOS: Scenario[] = [
  { key: 'A', title: 'bare yoga `{ hello }`', server: 'hello', requests: 'hello' },
  // For the record, not a target: A without yoga's body-size stream, which tenantql replaces.
  {
    key: 'A′',
    title: 'A with `maxRequestBodySize: false` (no body-size stream)',
    server: 'helloNoBodyStream',
    requests: 'hello',
  },
  { key: 'B', title: '`{ tenant { name } }`, user token', server: 'main', requests: 'tenant' },
  // Only with BENCH_BASELINE: B, C, D and F against the baseline's code, each right after its own.
  { key: 'Bᵇ', title: 'B on the baseline (BENCH_BASELINE)', server: 'baseline', requests: 'tenant' },
  { key: 'C', title: 'nested projects → tasks → assignee, cache off', server: 'main', requests: 'nested' },
  { key: 'Cᵇ', title: 'C on the baseline (BENCH_BASELINE)', server: 'baseline', requests: 'nested' },
  // The peer, right after C in every round: C / P is the ratio (bench/postgraphile).
  {
    key: 'P',
    title: "PostGraphile 4: C's query, pgSettings from Host, runtime role",
    server: 'postgraphile',
    requests: 'nestedPostgraphile',
  },
  // The same server with the fast path off (src/fastpath/): C / C₀ is what the fast path gains.
  {
    key: 'C₀',
    title: 'C with `FAST_PATH=0` (the resolvers: five round trips)',
    server: 'resolvers',
    requests: 'nested',
  },
  // Without the bench's FAST_PATH_CONCURRENCY (bench/setup.ts): the default, reads on the whole pool.
  {
    key: 'C·pool',
    title: 'C with `FAST_PATH_CONCURRENCY` unset (fast-path reads on the whole pool, the default)',
    server: 'ungated',
    requests: 'nested',
  },
  // The price of PG_PREPARED_STATEMENTS=0 (behind a transaction-pooling proxy): C′ / C.
  {
    key: 'C′',
    title: 'C with `PG_PREPARED_STATEMENTS=0` (every statement unnamed)',
    server: 'unnamed',
    requests: 'nested',
  },
  { key: 'D', title: 'C with the response cache on (hits)', server: 'cached', requests: 'nested' },
  { key: 'Dᵇ', title: 'D on the baseline (BENCH_BASELINE)', server: 'baselineCached', requests: 'nested' },
  { key: 'E', title: 'write mix: createTask / updateTask', server: 'main', requests: 'writes' },
  // A tenant's writes queue on its id counter: the price of ids that leak nothing (E₁ / E).
  { key: 'E₁', title: 'E, all writes of one tenant', server: 'main', requests: 'writesOneTenant' },
  // Field encryption's price (SPEC §12): 100 emails decrypted per request, M / M₀.
  { key: 'M', title: '100 members with encrypted emails', server: 'main', requests: 'membersEncrypted' },
  {
    key: 'M₀',
    title: 'M, the same emails stored as plaintext',
    server: 'main',
    requests: 'membersPlaintext',
  },
  { key: 'F·B', title: 'B with 10,000 tenants in the file', server: 'big', requests: 'tenant' },
  { key: 'F·Bᵇ', title: 'F·B on the baseline (BENCH_BASELINE)', server: 'baselineBig', requests: 'tenant' },
  { key: 'F·C', title: 'C with 10,000 tenants in the file', server: 'big', requests: 'nested' },
  { key: 'F·Cᵇ', title: 'F·C on the baseline (BENCH_BASELINE)', server: 'baselineBig', requests: 'nested' },
  { key: 'G', title: "raw SQL of C (pg, same connections as the server's pool)", server: 'raw' },
];

export interface Timing {
  connections: number;
  poolMax: number;
  warmupSeconds: number;
  seconds: number;
}

/** One round of one scenario: a warm-up, then the measured run with CPU time per request. */
export function measure(
  bench: Bench,
  servers: Servers,
  scenario: Scenario,
  timing: Timing,
): Promise<Measurement> {
  return scenario.server === 'raw'
    ? raw(bench, timing)
    : load(bench, servers[scenario.server]!, bench.requests[scenario.requests!], timing);
}

async function load(bench: Bench, server: Child, requestsFile: string, timing: Timing): Promise<Measurement> {
  const base = { port: server.port, requestsFile, connections: timing.connections };
  await wrk({ ...base, seconds: timing.warmupSeconds });
  const cpu = () => [treeCpuMs(server.process.pid), treeCpuMs(bench.postgres.postmasterPid)] as const;
  const before = cpu();
  const m = await wrk({ ...base, seconds: timing.seconds });
  const after = cpu();
  return {
    ...m,
    serverCpuUs: ((after[0] - before[0]) * 1000) / m.requests,
    pgCpuUs: ((after[1] - before[1]) * 1000) / m.requests,
  };
}

/** Scenario G in its own process, so the bench's own event loop is not part of it. */
function raw(bench: Bench, timing: Timing): Promise<Measurement> {
  const options = {
    url: bench.postgres.databaseUrl,
    tenants: seededTenantIds(),
    connections: timing.poolMax,
    warmupSeconds: timing.warmupSeconds,
    seconds: timing.seconds,
  };
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/raw-sql.ts'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, BENCH_RAW: JSON.stringify(options) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    let pgBefore = Number.NaN;
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (Number.isNaN(pgBefore) && out.includes('BENCH_MEASURING'))
        pgBefore = treeCpuMs(bench.postgres.postmasterPid);
    });
    child.once('error', fail);
    child.once('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('BENCH_JSON '));
      if (code !== 0 || !line) return fail(new Error(`raw-sql exited ${code}: ${out}`));
      const r = JSON.parse(line.slice('BENCH_JSON '.length)) as Omit<Measurement, 'rps'> & { cpuMs: number };
      const pgCpuUs = ((treeCpuMs(bench.postgres.postmasterPid) - pgBefore) * 1000) / r.requests;
      done({ ...r, rps: r.requests / r.seconds, serverCpuUs: (r.cpuMs * 1000) / r.requests, pgCpuUs });
    });
  });
}
