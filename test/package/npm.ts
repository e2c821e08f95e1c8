import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * The environment for a child npm: ours (HOME, PATH, the user's .npmrc and proxy settings)
 * without the npm_* variables an outer `npm run` exported, which would configure the child as
 * that run's lifecycle script instead of a command of its own.
 */
function npmEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
}

async function npm(args: string[], cwd: string): Promise<void> {
  try {
    await run('npm', args, { cwd, env: npmEnv(), maxBuffer: 64 * 1024 * 1024 });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`npm ${args.join(' ')} failed in ${cwd}:\n${stdout ?? ''}${stderr ?? ''}`);
  }
}

/**
 * `npm pack` of the repository at `root` into the empty folder `destination` (prepack builds
 * dist/ first, so the tarball is exactly what a publish would upload); resolves with its path.
 */
export async function pack(root: string, destination: string): Promise<string> {
  await npm(['pack', '--pack-destination', destination], root);
  // The folder was empty, and the build's output shares stdout with npm's: list, do not parse.
  const tarballs = (await readdir(destination)).filter((file) => file.endsWith('.tgz'));
  if (tarballs.length !== 1) throw new Error(`npm pack left ${tarballs.length} tarballs in ${destination}`);
  return join(destination, tarballs[0]!);
}

/** `npm install <tarball>` in `dir`, as a team adds tenantql to its product (from the cache `npm ci` filled). */
export async function install(dir: string, tarball: string): Promise<void> {
  await npm(['install', tarball, '--no-audit', '--no-fund', '--prefer-offline'], dir);
}
