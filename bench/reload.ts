import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../src/db/embedded.js';
import { treeCpuMs } from './cpu.js';
import { BIG_TENANT_COUNT, hostOf, tenantsFile, writeJsonAtomically } from './fixtures.js';
import { type Child, post } from './processes.js';
import { seededTenantIds } from './seed.js';
import { type Bench, WORK_DIR } from './setup.js';
import { checkNested, SAMPLE_QUERY } from './verify.js';
import { type Measurement, wrk } from './wrk.js';

export interface Reload {
  /** The server's own figure: read, validate, build and swap (tenantql_tenant_reload_duration_seconds). */
  durationMs: number;
  /** From kill -HUP in the bench to the reload counted in the server's metrics (polled every 25 ms). */
  signalToLogMs: number;
}

export interface ReloadResult {
  tenants: number;
  idle: Reload[];
  underLoad: Reload[];
  /** C with a SIGHUP every second (R). */
  load: Measurement;
  /** The same load on the same server without SIGHUP (R₀), alternating with R. */
  quietLoad: Measurement;
  samples: number;
  failedSamples: number;
  wrongTenantSamples: number;
  problems: string[];
}

export interface ReloadOptions {
  connections: number;
  warmupSeconds: number;
  seconds: number;
}

/**
 * Item 4 of the issue: a 10,000-tenant file reloaded by SIGHUP, first at rest, then every
 * second while scenario C runs, with a sampler checking that every answer is complete and
 * belongs to the tenant of the Host it was sent to. Its server logs at warn like C's: each
 * reload is read from its metrics listener (the reload counter and duration histogram), not from
 * an info log line per request, so R / C is the price of the reloads alone.
 */
export async function reloadAtScale(bench: Bench, options: ReloadOptions): Promise<ReloadResult> {
  const file = join(WORK_DIR, 'tenants-reload.json');
  await writeJsonAtomically(file, tenantsFile(BIG_TENANT_COUNT));
  const metricsPort = await freePort();
  const server = await bench.startTenantql('reload', {
    tenantsFile: file,
    cacheTtlSeconds: 0,
    env: { METRICS_PORT: String(metricsPort) },
  });
  try {
    let variant = 0;
    const reload = async () => {
      variant++;
      await writeJsonAtomically(file, tenantsFile(BIG_TENANT_COUNT, variant));
      return sighup(server, metricsPort);
    };
    const idle: Reload[] = [];
    for (let i = 0; i < 5; i++) {
      idle.push(await reload());
      await sleep(200);
    }

    await wrk({
      port: server.port,
      requestsFile: bench.requests.nested,
      connections: options.connections,
      seconds: options.warmupSeconds,
    });
    // The same load without SIGHUP (R₀), then with one every second (R), twice, alternating:
    // R / R₀ is the price of the reloads alone, on the same server with the same checks.
    const quiet: Phase[] = [];
    const reloading: Phase[] = [];
    const underLoad: Reload[] = [];
    for (let round = 0; round < 2; round++) {
      quiet.push(await phase(server, bench, options, undefined));
      reloading.push(await phase(server, bench, options, async () => underLoad.push(await reload())));
    }
    const all = [...quiet, ...reloading];
    return {
      tenants: BIG_TENANT_COUNT,
      idle,
      underLoad,
      load: combined(reloading),
      quietLoad: combined(quiet),
      samples: all.reduce((n, p) => n + p.samples, 0),
      failedSamples: all.reduce((n, p) => n + p.failedSamples, 0),
      wrongTenantSamples: all.reduce((n, p) => n + p.wrongTenantSamples, 0),
      problems: all.flatMap((p) => p.problems),
    };
  } finally {
    await server.stop();
  }
}

interface Phase {
  load: Measurement;
  samples: number;
  failedSamples: number;
  wrongTenantSamples: number;
  problems: string[];
}

/** One measured run of C with the samplers, and `reload` every second while it runs (if given). */
async function phase(
  server: Child,
  bench: Bench,
  options: ReloadOptions,
  reload: (() => Promise<unknown>) | undefined,
): Promise<Phase> {
  let running = true;
  const cpuBefore = treeCpuMs(server.process.pid);
  const loaded = wrk({
    port: server.port,
    requestsFile: bench.requests.nestedWithTenant,
    connections: options.connections,
    seconds: options.seconds,
    checkMarkers: true,
  }).finally(() => {
    running = false;
  });
  const reloading = (async () => {
    while (running && reload) {
      const next = sleep(1000);
      await reload();
      await next;
    }
  })();
  // Two samplers, so a request is often in flight at the moment of a swap.
  const sampled = Promise.all([0, 1].map((offset) => sample(server, bench, offset, () => running)));
  const [load, samples] = await Promise.all([loaded, sampled, reloading]).then(([l, s]) => [l, s] as const);
  const cpuMs = treeCpuMs(server.process.pid) - cpuBefore;
  const sum = (key: 'samples' | 'failedSamples' | 'wrongTenantSamples') =>
    samples.reduce((total, s) => total + s[key], 0);
  // The samplers' checked answers are requests this server served too (C has no samplers):
  // the rate and the CPU per request count them with wrk's.
  const served = load.requests + sum('samples');
  return {
    load: { ...load, rps: load.rps + sum('samples') / load.seconds, serverCpuUs: (cpuMs * 1000) / served },
    samples: sum('samples'),
    failedSamples: sum('failedSamples'),
    wrongTenantSamples: sum('wrongTenantSamples'),
    problems: samples.flatMap((s) => s.problems),
  };
}

/** Runs as one: rates over their summed time, CPU per request over their requests, latencies the worst. */
function combined(phases: Phase[]): Measurement {
  const loads = phases.map((p) => p.load);
  const total = (of: (m: Measurement) => number) => loads.reduce((sum, m) => sum + of(m), 0);
  const requests = total((m) => m.requests);
  const seconds = total((m) => m.seconds);
  return {
    requests,
    seconds,
    rps: total((m) => m.rps * m.seconds) / seconds,
    p50Ms: Math.max(...loads.map((m) => m.p50Ms)),
    p99Ms: Math.max(...loads.map((m) => m.p99Ms)),
    errors: total((m) => m.errors),
    wrongTenant: total((m) => m.wrongTenant ?? 0),
    serverCpuUs: total((m) => (m.serverCpuUs ?? 0) * m.requests) / requests,
  };
}

const POLL_MS = 25;

async function sighup(server: Child, metricsPort: number): Promise<Reload> {
  const before = await reloadMetrics(metricsPort);
  const sent = performance.now();
  server.process.kill('SIGHUP');
  for (;;) {
    const now = await reloadMetrics(metricsPort);
    if (now.failure > before.failure)
      throw new Error('reload failed (tenantql_tenant_reloads_total{outcome="failure"})');
    if (now.success > before.success)
      return {
        durationMs: (now.sumSeconds - before.sumSeconds) * 1000,
        signalToLogMs: performance.now() - sent,
      };
    if (performance.now() - sent > 10_000) throw new Error('no reload counted within 10 s of SIGHUP');
    // A scrape costs the server ~1.4 ms of CPU (prom-client's process metrics read /proc):
    // polled every 10 ms, a reload under load cost R as much again in scrapes as in reloading.
    await sleep(POLL_MS);
  }
}

/** The reload counters and the duration histogram's sum, from the server's /metrics. */
async function reloadMetrics(
  port: number,
): Promise<{ success: number; failure: number; sumSeconds: number }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const value = (pattern: RegExp) => Number(text.match(pattern)?.[1] ?? 0);
  return {
    success: value(/^tenantql_tenant_reloads_total\{outcome="success"\} (\S+)$/m),
    failure: value(/^tenantql_tenant_reloads_total\{outcome="failure"\} (\S+)$/m),
    sumSeconds: value(/^tenantql_tenant_reload_duration_seconds_sum (\S+)$/m),
  };
}

/**
 * A check, not load: wrk's requests carry the load (and wrk checks each body's tenant). Without
 * a pause the two loops sent ~140 requests a second and parsed every answer in the bench's own
 * process, on the cores the server needs: R₀, the same server without SIGHUP, was 0.81–0.93 × C.
 */
const SAMPLE_PAUSE_MS = 20;

/** One request at a time over the seeded tenants, each answer checked in full (host → tenant too). */
async function sample(server: Child, bench: Bench, offset: number, running: () => boolean) {
  const tenants = seededTenantIds();
  const body = JSON.stringify({ query: SAMPLE_QUERY });
  const problems: string[] = [];
  let samples = 0;
  let failedSamples = 0;
  let wrongTenantSamples = 0;
  while (running()) {
    const id = tenants[(2 * samples + offset) % tenants.length]!;
    samples++;
    const found = await post(server.port, hostOf(id), bench.tokens.byTenant.get(id)!, body).then(
      (r) => checkNested(r.status, r.body, id, { projects: 5, tasks: 3 }),
      (error: Error) => [`request failed: ${error.message}`],
    );
    if (found.length > 0) {
      if (found.some((p) => p.startsWith('wrong tenant'))) wrongTenantSamples++;
      else failedSamples++;
      if (problems.length < 5) problems.push(`tenant ${id}: ${found.slice(0, 3).join('; ')}`);
    }
    await sleep(SAMPLE_PAUSE_MS);
  }
  return { samples, failedSamples, wrongTenantSamples, problems };
}
