import { writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { type Baseline, prepareBaseline } from './baseline.js';
import { ensurePostgraphile } from './postgraphile-server.js';
import { preflight } from './preflight.js';
import { type ReloadResult, reloadAtScale } from './reload.js';
import {
  baselineLine,
  peerLine,
  reloadLines,
  type ScenarioResult,
  summarise,
  table,
  targets,
  targetTable,
} from './report.js';
import { isBaselineServer, measure, SCENARIOS, type ServerName, type Servers } from './scenarios.js';
import { vacuumWrittenTables } from './seed.js';
import { type Bench, fastPathGateOf, prepare, serverPoolOf, WORK_DIR } from './setup.js';
import { type TiersResult, tiersLines, tiersScenario } from './tiers.js';
import { wrkVersion } from './wrk.js';

/**
 * `npm run bench`: scenarios A–G against real servers, three interleaved rounds of a warm-up
 * and a fixed-time measurement each, medians reported. See docs/performance.md.
 */
const env = process.env;
const quick = env.BENCH_QUICK === '1';
const number = (value: string | undefined, fallback: number) => (value ? Number(value) : fallback);
const settings = {
  quick,
  warmupSeconds: number(env.BENCH_WARMUP, quick ? 1 : 3),
  seconds: number(env.BENCH_SECONDS, quick ? 2 : 8),
  rounds: number(env.BENCH_ROUNDS, quick ? 2 : 3),
  connections: number(env.BENCH_CONNECTIONS, 16),
  poolMax: serverPoolOf(env),
  fastPathGate: fastPathGateOf(env),
  only: env.BENCH_ONLY ? env.BENCH_ONLY.split(',').map((s) => s.trim()) : undefined,
  baseline: env.BENCH_BASELINE || undefined,
};
const log = (line: string) => process.stderr.write(`bench: ${line}\n`);

const wanted = (key: string) =>
  !settings.only || settings.only.includes(key) || settings.only.includes(key[0]!);

async function main(): Promise<number> {
  const loadGenerator = await wrkVersion();
  if (!loadGenerator) {
    log('wrk is not installed: apt-get install -y wrk (Debian/Ubuntu) or brew install wrk');
    return 1;
  }
  // Bᵇ, Cᵇ, Dᵇ and F·xᵇ exist only with BENCH_BASELINE; BENCH_ONLY=B,C takes them along (their first letter).
  const scenarios = SCENARIOS.filter(
    (s) => wanted(s.key) && (!isBaselineServer(s.server) || settings.baseline !== undefined),
  );
  // Before any service starts: a ref that names nothing fails in a second.
  const baseline =
    settings.baseline && scenarios.some((s) => isBaselineServer(s.server))
      ? await prepareBaseline(settings.baseline, WORK_DIR, log)
      : undefined;
  const bench = await prepare(env, log);
  const onSignal = () => void bench.close().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const { servers, missing, postgraphile } = await startServers(
      bench,
      new Set(scenarios.map((s) => s.server)),
      baseline,
      log,
    );
    const available = scenarios.filter((s) => s.server === 'raw' || !missing.has(s.server));
    const skipped = await preflight(bench, servers, available);
    for (const s of scenarios)
      if (s.server !== 'raw' && missing.has(s.server)) skipped.set(s.key, missing.get(s.server)!);
    for (const [key, why] of skipped) log(`scenario ${key}: n/a (${why})`);
    const results: ScenarioResult[] = scenarios.map((s) => ({
      key: s.key,
      title: s.title,
      rounds: [],
      skipped: skipped.get(s.key),
    }));
    log(
      `load generator: ${loadGenerator}, ${settings.connections} connections, warm-up ${settings.warmupSeconds} s, measure ${settings.seconds} s, ${settings.rounds} rounds`,
    );

    for (let round = 1; round <= settings.rounds; round++) {
      for (const [i, scenario] of scenarios.entries()) {
        const result = results[i]!;
        if (result.skipped) continue;
        const m = await measure(bench, servers, scenario, settings);
        result.rounds.push(m);
        if (scenario.requests === 'writes' || scenario.requests === 'writesOneTenant')
          await vacuumWrittenTables(bench.postgres.superuserDbUrl);
        log(
          `round ${round} ${scenario.key}: ${m.rps.toFixed(0)} req/s, p50 ${m.p50Ms.toFixed(2)} ms, p99 ${m.p99Ms.toFixed(2)} ms, ${m.errors} errors`,
        );
      }
    }

    let reload: ReloadResult | undefined;
    if (wanted('R')) {
      log('reload at scale: 10,000 tenants, SIGHUP at rest, then every second under scenario C');
      reload = await reloadAtScale(bench, settings);
    }

    let tiers: TiersResult | undefined;
    if (wanted('T')) {
      log('tiers: C for one tenant, shared and dedicated, interleaved; then cold and warm first requests');
      tiers = await tiersScenario(bench, settings, log);
    }

    const summaries = results.map(summarise);
    const extra = reload
      ? [
          { key: 'R₀', title: 'R without SIGHUP (same server, checks and samplers)', m: reload.quietLoad },
          { key: 'R', title: 'C, 10,000 tenants, SIGHUP every 1 s', m: reload.load },
        ]
      : [];
    const checks = targets(summaries, reload);
    const markdown = [
      `Load generator: ${loadGenerator} (1 thread, ${settings.connections} connections), to 127.0.0.1 only. ` +
        `${settings.rounds} interleaved rounds of ${settings.warmupSeconds} s warm-up + ${settings.seconds} s measured; medians. ` +
        `${cpus().length} CPUs (${cpus()[0]?.model.trim()}), Node ${process.version}, PostgreSQL ${bench.postgres.version}, server pool ${settings.poolMax}, fast-path reads at most ${settings.fastPathGate} at once (FAST_PATH_CONCURRENCY) but in C·pool` +
        `${postgraphile ? `; P: PostGraphile ${postgraphile} (bench/postgraphile), the same pool size` : ''}` +
        `${baseline ? `; ᵇ: baseline ${baseline.ref} = ${baseline.commit.slice(0, 12)} "${baseline.subject.slice(0, 80)}"` : ''}.`,
      '',
      table(summaries, extra),
      '',
      ...(wanted('P') ? [peerLine(summaries), ''] : []),
      ...(baseline ? [baselineLine(summaries), ''] : []),
      targetTable(checks),
      ...(reload ? ['', reloadLines(reload)] : []),
      ...(tiers ? ['', tiersLines(tiers)] : []),
    ].join('\n');
    process.stdout.write(`${markdown}\n`);

    const file = `bench/results/${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
    await writeFile(
      file,
      JSON.stringify(
        {
          at: new Date().toISOString(),
          loadGenerator,
          settings,
          machine: {
            cpus: cpus().length,
            model: cpus()[0]?.model,
            node: process.version,
            loadavg: loadavg(),
          },
          postgres: { version: bench.postgres.version, source: bench.postgres.source },
          postgraphile,
          baseline,
          seed: bench.seeded,
          serverEnv: Object.keys(env).filter((k) => k.startsWith('BENCH_SERVER_')),
          scenarios: results,
          medians: summaries,
          targets: checks,
          reload,
          tiers,
          markdown,
        },
        null,
        2,
      ),
    );
    log(`results: ${file}`);
    return 0;
  } finally {
    await bench.close();
  }
}

async function startServers(
  bench: Bench,
  needed: Set<string>,
  baseline: Baseline | undefined,
  log: (line: string) => void,
): Promise<{ servers: Servers; missing: Map<ServerName, string>; postgraphile: string | undefined }> {
  const servers: Servers = {};
  const missing = new Map<ServerName, string>();
  let postgraphile: string | undefined;
  if (needed.has('hello')) servers.hello = await bench.startHello();
  if (needed.has('helloNoBodyStream'))
    servers.helloNoBodyStream = await bench.startHello({ noBodyStream: true });
  const { small, big } = bench.files;
  if (needed.has('main'))
    servers.main = await bench.startTenantql('main', { tenantsFile: small, cacheTtlSeconds: 0 });
  // The same settings as main's, from the baseline's checkout (its own bin/tenantql.js).
  if (needed.has('baseline') && baseline)
    servers.baseline = await bench.startTenantql('baseline', {
      tenantsFile: small,
      cacheTtlSeconds: 0,
      checkout: baseline.dir,
    });
  if (needed.has('baselineCached') && baseline)
    servers.baselineCached = await bench.startTenantql('baselineCached', {
      tenantsFile: small,
      cacheTtlSeconds: 300,
      checkout: baseline.dir,
    });
  if (needed.has('baselineBig') && baseline)
    servers.baselineBig = await bench.startTenantql('baselineBig', {
      tenantsFile: big,
      cacheTtlSeconds: 0,
      checkout: baseline.dir,
    });
  if (needed.has('unnamed'))
    servers.unnamed = await bench.startTenantql('unnamed', {
      tenantsFile: small,
      cacheTtlSeconds: 0,
      env: { PG_PREPARED_STATEMENTS: '0' },
    });
  if (needed.has('resolvers'))
    servers.resolvers = await bench.startTenantql('resolvers', {
      tenantsFile: small,
      cacheTtlSeconds: 0,
      env: { FAST_PATH: '0' },
    });
  if (needed.has('ungated'))
    servers.ungated = await bench.startTenantql('ungated', {
      tenantsFile: small,
      cacheTtlSeconds: 0,
      env: { FAST_PATH_CONCURRENCY: '' }, // empty is unset: the pool, whatever its size
    });
  if (needed.has('cached'))
    servers.cached = await bench.startTenantql('cached', { tenantsFile: small, cacheTtlSeconds: 300 });
  if (needed.has('big'))
    servers.big = await bench.startTenantql('big', { tenantsFile: big, cacheTtlSeconds: 0 });
  if (needed.has('postgraphile')) {
    // Not installed and not installable (offline): P is reported n/a, the other scenarios run.
    const found = await ensurePostgraphile(log);
    if ('missing' in found) missing.set('postgraphile', found.missing);
    else {
      postgraphile = found.version;
      servers.postgraphile = await bench.startPostgraphile();
    }
  }
  return { servers, missing, postgraphile };
}

process.exitCode = await main().catch((error: unknown) => {
  log(error instanceof Error ? (error.stack ?? error.message) : String(error));
  return 1;
});
