import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL('./wrk.lua', import.meta.url));

/** One measured run: throughput and latency as the load generator saw them. */
export interface Measurement {
  requests: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Failed responses (non-200 or GraphQL errors) plus socket errors and timeouts. */
  errors: number;
  /** With `checkMarkers`: successful bodies holding a row of another tenant than their own. */
  wrongTenant?: number;
  /** CPU time of the server process tree (G: the pg script) per request, in µs. */
  serverCpuUs?: number;
  /** CPU time of PostgreSQL (postmaster and every backend) per request, in µs. */
  pgCpuUs?: number;
}

export interface LoadOptions {
  port: number;
  requestsFile: string;
  connections: number;
  seconds: number;
  /** Check every body for rows of another tenant (the requests must ask for `tenant { id }`). */
  checkMarkers?: boolean;
}

/**
 * wrk (one thread, a fixed number of keep-alive connections) against 127.0.0.1 only. wrk is
 * C and event-driven: on two shared cores it leaves far more CPU to the server than a Node
 * load generator would.
 */
export async function wrk(options: LoadOptions): Promise<Measurement> {
  const args = [
    '-t1',
    `-c${options.connections}`,
    `-d${options.seconds}s`,
    '--timeout',
    '10s',
    '-s',
    SCRIPT,
    `http://127.0.0.1:${options.port}/graphql`,
    '--',
    options.requestsFile,
    ...(options.checkMarkers ? ['markers'] : []),
  ];
  const { stdout } = await run('wrk', args, { timeout: (options.seconds + 30) * 1000 });
  const line = stdout.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (!line) throw new Error(`wrk printed no result:\n${stdout}`);
  const r = JSON.parse(line.slice('BENCH_JSON '.length)) as Record<string, number>;
  const seconds = r.durationUs! / 1e6;
  return {
    requests: r.requests!,
    seconds,
    rps: r.requests! / seconds,
    p50Ms: r.p50Us! / 1000,
    p99Ms: r.p99Us! / 1000,
    // A non-200 is counted by the script already; wrk's own `status` counts the same responses.
    errors: r.bad! + r.connect! + r.read! + r.write! + r.timeout!,
    ...(options.checkMarkers ? { wrongTenant: r.wrong! } : {}),
  };
}

export async function wrkVersion(): Promise<string | undefined> {
  try {
    const { stdout, stderr } = await run('wrk', ['--version']).catch(
      (e: { stdout: string; stderr: string }) => e,
    );
    return (stdout || stderr)
      .split('\n')[0]
      ?.replace(/\s*Copyright.*$/, '')
      .trim();
  } catch {
    return undefined;
  }
}
