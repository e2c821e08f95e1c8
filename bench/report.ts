import type { ReloadResult } from './reload.js';
import type { Measurement } from './wrk.js';

export interface ScenarioResult {
  key: string;
  title: string;
  rounds: Measurement[];
  /** Why the scenario was not measured (e.g. no response cache in this build). */
  skipped?: string;
}

export interface Summary {
  key: string;
  title: string;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Summed over the rounds: one failure in any round counts. */
  errors: number;
  /** (max − min) / median of the rounds' req/s: how much the machine moved under us. */
  spread: number;
  /** Medians of CPU time per request: the server's process tree (G: the pg script), and PostgreSQL. */
  serverCpuUs: number;
  pgCpuUs: number;
  skipped?: string;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

export function summarise(result: ScenarioResult): Summary {
  const { key, title, rounds, skipped } = result;
  if (skipped || rounds.length === 0)
    return {
      key,
      title,
      rps: Number.NaN,
      p50Ms: Number.NaN,
      p99Ms: Number.NaN,
      errors: 0,
      spread: Number.NaN,
      serverCpuUs: Number.NaN,
      pgCpuUs: Number.NaN,
      skipped,
    };
  const rps = rounds.map((r) => r.rps);
  return {
    key,
    title,
    rps: median(rps),
    spread: (Math.max(...rps) - Math.min(...rps)) / median(rps),
    serverCpuUs: median(rounds.map((r) => r.serverCpuUs ?? Number.NaN)),
    pgCpuUs: median(rounds.map((r) => r.pgCpuUs ?? Number.NaN)),
    p50Ms: median(rounds.map((r) => r.p50Ms)),
    p99Ms: median(rounds.map((r) => r.p99Ms)),
    errors: rounds.reduce((sum, r) => sum + r.errors, 0),
  };
}

const fixed = (n: number, digits: number) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

export function table(rows: Summary[], extra: { key: string; title: string; m: Measurement }[]): string {
  const a = rows.find((r) => r.key === 'A')?.rps ?? Number.NaN;
  const g = rows.find((r) => r.key === 'G')?.rps ?? Number.NaN;
  const lines = [
    '| scenario | req/s | spread | p50 ms | p99 ms | errors | × A | × G | server CPU µs/req | PostgreSQL CPU µs/req |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    if (r.skipped) {
      lines.push(`| ${r.key}. ${r.title} | n/a | | n/a | n/a | n/a | n/a | n/a | | |`);
      continue;
    }
    lines.push(
      `| ${r.key}. ${r.title} | ${fixed(r.rps, 0)} | ${fixed(r.spread * 100, 0)} % | ${fixed(r.p50Ms, 2)} | ${fixed(r.p99Ms, 2)} | ${r.errors} | ${fixed(r.rps / a, 3)} | ${fixed(r.rps / g, 3)} | ${fixed(r.serverCpuUs, 0)} | ${fixed(r.pgCpuUs, 0)} |`,
    );
  }
  for (const { key, title, m } of extra) {
    lines.push(
      `| ${key}. ${title} | ${fixed(m.rps, 0)} | | ${fixed(m.p50Ms, 2)} | ${fixed(m.p99Ms, 2)} | ${m.errors} | ${fixed(m.rps / a, 3)} | ${fixed(m.rps / g, 3)} | ${m.serverCpuUs === undefined ? '' : fixed(m.serverCpuUs, 0)} | |`,
    );
  }
  return lines.join('\n');
}

export interface Target {
  target: string;
  measured: string;
  met: boolean | undefined;
}

/** The issue's targets, each as a ratio from this run; undefined when its inputs were not measured. */
export function targets(rows: Summary[], reload: ReloadResult | undefined): Target[] {
  const get = (key: string) => rows.find((r) => r.key === key && !r.skipped);
  const ratio = (x: string, y: string) => {
    const a = get(x);
    const b = get(y);
    return a && b ? a.rps / b.rps : Number.NaN;
  };
  const list: Target[] = [];
  const atLeast = (target: string, value: number, bound: number) =>
    list.push({
      target,
      measured: fixed(value, 3),
      met: Number.isFinite(value) ? value >= bound : undefined,
    });
  atLeast('B ≥ 0.85 × A', ratio('B', 'A'), 0.85);
  atLeast('D ≥ 0.8 × A', ratio('D', 'A'), 0.8);
  atLeast('C ≥ 0.13 × A', ratio('C', 'A'), 0.13);
  atLeast('C ≥ 0.32 × G', ratio('C', 'G'), 0.32);
  atLeast('M ≥ 0.85 × M₀ (encrypted emails)', ratio('M', 'M₀'), 0.85);
  for (const [f, base] of [
    ['F·B', 'B'],
    ['F·C', 'C'],
  ] as const) {
    const value = ratio(f, base);
    list.push({
      target: `${f} within 5 % of ${base}`,
      measured: fixed(value, 3),
      met: Number.isFinite(value) ? value >= 0.95 : undefined,
    });
  }
  // Issue 16: the current code against BENCH_BASELINE's, same run, same database (Bᵇ, Cᵇ).
  if (rows.some((r) => r.key === 'Bᵇ')) {
    const value = ratio('B', 'Bᵇ');
    list.push({
      target: 'B within 5 % of Bᵇ (baseline)',
      measured: fixed(value, 3),
      met: Number.isFinite(value) ? value >= 0.95 : undefined,
    });
  }
  if (rows.some((r) => r.key === 'Cᵇ')) atLeast('C ≥ 1.0 × Cᵇ (baseline)', ratio('C', 'Cᵇ'), 1.0);
  // Issue 17: D and F unchanged or better (within 5 %) against the baseline.
  for (const key of ['D', 'F·B', 'F·C']) {
    if (rows.some((r) => r.key === `${key}ᵇ`))
      atLeast(`${key} ≥ 0.95 × ${key}ᵇ (baseline)`, ratio(key, `${key}ᵇ`), 0.95);
  }
  // The issue's goals against PostGraphile 4 (scenario P), same query, same data, same run.
  atLeast('C ≥ 2.0 × P', ratio('C', 'P'), 2.0);
  const c = get('C');
  const p = get('P');
  const p99Ratio = c && p ? c.p99Ms / p.p99Ms : Number.NaN;
  list.push({
    target: 'C p99 ≤ 0.6 × P p99',
    measured: `${fixed(p99Ratio, 3)} ×`,
    met: Number.isFinite(p99Ratio) ? p99Ratio <= 0.6 : undefined,
  });
  list.push({
    target: 'C p99 < 4 × p50',
    measured: c ? `${fixed(c.p99Ms / c.p50Ms, 2)} ×` : 'n/a',
    met: c ? c.p99Ms < 4 * c.p50Ms : undefined,
  });
  if (reload) {
    for (const [when, reloads] of [
      ['at rest', reload.idle],
      ['under C', reload.underLoad],
    ] as const) {
      const worst = Math.max(...reloads.map((r) => r.durationMs));
      list.push({
        target: `SIGHUP swap of ${reload.tenants} tenants < 100 ms, ${when}`,
        measured: `max ${fixed(worst, 1)} ms`,
        met: reloads.length ? worst < 100 : undefined,
      });
    }
    // Issue 17: reloads off the hot path. The median swap under load, and R against C of this run.
    const underLoad = reload.underLoad.map((r) => r.durationMs).sort((a, b) => a - b);
    const median = underLoad[Math.floor(underLoad.length / 2)];
    list.push({
      target: `SIGHUP swap of ${reload.tenants} tenants < 50 ms under C (median)`,
      measured: median === undefined ? 'n/a' : `${fixed(median, 1)} ms`,
      met: median === undefined ? undefined : median < 50,
    });
    const c = rows.find((r) => r.key === 'C');
    const r = reload.load.rps;
    atLeast('R ≥ 0.9 × C', c && r ? r / c.rps : Number.NaN, 0.9);
    // The reloads' own price: the same server, query, checks and samplers without SIGHUP.
    atLeast('R ≥ 0.9 × R₀ (the reloads alone)', r / reload.quietLoad.rps, 0.9);
    const wrong = reload.load.wrongTenant ?? 0;
    const bad = reload.failedSamples + reload.wrongTenantSamples + reload.load.errors + wrong;
    list.push({
      target: 'reload every 1 s during C: 0 failed, 0 wrong-tenant',
      measured: `load: ${reload.load.errors} failed, ${wrong} wrong-tenant of ${reload.load.requests}; sampler: ${reload.failedSamples} failed, ${reload.wrongTenantSamples} wrong-tenant of ${reload.samples}`,
      met: bad === 0,
    });
  }
  return list;
}

/** C against PostGraphile 4 (P): every ratio C / P, and both CPU figures. */
export function peerLine(rows: Summary[]): string {
  const c = rows.find((r) => r.key === 'C' && !r.skipped);
  const p = rows.find((r) => r.key === 'P' && !r.skipped);
  if (!c || !p)
    return `C / P (PostGraphile 4): n/a${p ? '' : ` (P: ${rows.find((r) => r.key === 'P')?.skipped ?? 'not run'})`}`;
  const pair = (x: number, y: number, digits: number) =>
    `${fixed(x, digits)} / ${fixed(y, digits)} = ${fixed(x / y, 3)} ×`;
  return [
    `C / P (PostGraphile 4): req/s ${pair(c.rps, p.rps, 0)}; p50 ms ${pair(c.p50Ms, p.p50Ms, 2)}; p99 ms ${pair(c.p99Ms, p.p99Ms, 2)};`,
    `server CPU µs/req ${pair(c.serverCpuUs, p.serverCpuUs, 0)}; PostgreSQL CPU µs/req ${pair(c.pgCpuUs, p.pgCpuUs, 0)}.`,
  ].join(' ');
}

/** The current code against BENCH_BASELINE's: B / Bᵇ, C / Cᵇ, D / Dᵇ, F·B / F·Bᵇ, F·C / F·Cᵇ: req/s, p99 and server CPU. */
export function baselineLine(rows: Summary[]): string {
  const get = (key: string) => rows.find((r) => r.key === key && !r.skipped);
  const parts: string[] = [];
  for (const [now, then] of [
    ['B', 'Bᵇ'],
    ['C', 'Cᵇ'],
    ['D', 'Dᵇ'],
    ['F·B', 'F·Bᵇ'],
    ['F·C', 'F·Cᵇ'],
  ] as const) {
    const x = get(now);
    const y = get(then);
    if (!x || !y) continue;
    parts.push(
      `${now} / ${then}: req/s ${fixed(x.rps, 0)} / ${fixed(y.rps, 0)} = ${fixed(x.rps / y.rps, 3)} ×, ` +
        `p99 ${fixed(x.p99Ms / y.p99Ms, 3)} ×, server CPU µs/req ${fixed(x.serverCpuUs, 0)} / ${fixed(y.serverCpuUs, 0)} = ${fixed(x.serverCpuUs / y.serverCpuUs, 3)} ×`,
    );
  }
  return parts.length ? `Against the baseline: ${parts.join('; ')}.` : 'Against the baseline: n/a';
}

export function targetTable(list: Target[]): string {
  const mark = (met: boolean | undefined) => (met === undefined ? 'not measured' : met ? 'met' : 'MISSED');
  return [
    '| target | this run | |',
    '| --- | --- | --- |',
    ...list.map((t) => `| ${t.target} | ${t.measured} | ${mark(t.met)} |`),
  ].join('\n');
}

export function reloadLines(reload: ReloadResult): string {
  const stats = (values: number[]) =>
    values.length ? `median ${fixed(median(values), 1)} ms, max ${fixed(Math.max(...values), 1)} ms` : 'n/a';
  return [
    `SIGHUP with ${reload.tenants} tenants, at rest (${reload.idle.length}): swap ${stats(reload.idle.map((r) => r.durationMs))}; signal to counted ${stats(reload.idle.map((r) => r.signalToLogMs))}`,
    `SIGHUP every 1 s under scenario C (${reload.underLoad.length}): swap ${stats(reload.underLoad.map((r) => r.durationMs))}; signal to counted ${stats(reload.underLoad.map((r) => r.signalToLogMs))}`,
    `sampler during the reloads: ${reload.samples} checked answers, ${reload.failedSamples} failed, ${reload.wrongTenantSamples} wrong-tenant${reload.problems.length ? `; first problems: ${reload.problems.join(' | ')}` : ''}`,
  ].join('\n');
}
