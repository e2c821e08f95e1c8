import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type CpuProfile, printRows, summarise } from './profile-summary.js';
import { prepare, WORK_DIR } from './setup.js';
import { wrk } from './wrk.js';

/**
 * `node --import tsx bench/profile.ts [B|C|D|E]`: one tenantql server under `node --cpu-prof`,
 * loaded like the scenario (default C) for BENCH_SECONDS (default 15) after a warm-up, then
 * stopped so V8 writes the profile; prints where the server's CPU time went.
 */
const scenario = process.argv[2] ?? 'C';
// D is C on a server with the response cache on; the others run with it off, as in run.ts.
const requestsFor = { B: 'tenant', C: 'nested', D: 'nested', E: 'writes' } as const;
const key = requestsFor[scenario as keyof typeof requestsFor];
if (!key) throw new Error(`profile one of ${Object.keys(requestsFor).join(', ')}`);
const seconds = Number(process.env.BENCH_SECONDS ?? 15);
const log = (line: string) => process.stderr.write(`profile: ${line}\n`);

const dir = join(WORK_DIR, 'profiles');
await rm(dir, { recursive: true, force: true });
await mkdir(dir, { recursive: true });
const bench = await prepare(process.env, log);
try {
  const server = await bench.startTenantql('profile', {
    tenantsFile: bench.files.small,
    cacheTtlSeconds: scenario === 'D' ? 300 : 0,
    nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
  });
  const base = { port: server.port, requestsFile: bench.requests[key], connections: 16 };
  await wrk({ ...base, seconds: 3 });
  const m = await wrk({ ...base, seconds });
  log(
    `${scenario}: ${m.rps.toFixed(0)} req/s, p50 ${m.p50Ms.toFixed(2)} ms, p99 ${m.p99Ms.toFixed(2)} ms (profiler on)`,
  );
  await server.stop();
  const file = (await readdir(dir)).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no profile in ${dir}`);
  const summary = summarise(JSON.parse(await readFile(join(dir, file), 'utf8')) as CpuProfile);
  process.stdout.write(
    [
      `Profile of scenario ${scenario}: ${join(dir, file)} (open it in Chrome DevTools › Performance)`,
      `${(summary.busyMs / 1000).toFixed(1)} s busy of ${(summary.totalMs / 1000).toFixed(1)} s profiled, ${m.requests} requests measured (plus the warm-up)`,
      '',
      printRows('Self time by owner', summary.selfByOwner),
      '',
      printRows('Inclusive time by owner (stacks passing through it)', summary.inclusiveByOwner),
      '',
      printRows('Self time by function', summary.selfByFunction),
      '',
    ].join('\n'),
  );
} finally {
  await bench.close();
}
