import { join } from 'node:path';
import { type CliResult, runCli, ServerProcess } from '../helpers/server-process.js';

/** `node <script> <args>` in `dir` with exactly `env` (plus PATH). Plain node: no tsx, no --import. */
export function runNode(
  dir: string,
  script: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs = 30_000,
): Promise<CliResult> {
  return runCli(args, { cwd: dir, env, script, timeoutMs });
}

/** `node server.mjs <args>`: a tenantql command of the product in `dir`. */
export function runProduct(
  dir: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<CliResult> {
  return runNode(dir, join(dir, 'server.mjs'), args, env);
}

/** `node server.mjs start` in `dir`, as a child process listening on a port the OS picked. */
export function startProduct(dir: string, env: Record<string, string>): Promise<ServerProcess> {
  return ServerProcess.start(env, { cwd: dir, script: join(dir, 'server.mjs') });
}
