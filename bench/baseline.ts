import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, readFile, symlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const git = async (args: string[], cwd = '.') => (await run('git', args, { cwd })).stdout.trim();

export interface Baseline {
  /** BENCH_BASELINE as given, e.g. `997e3c0` or `main~1`. */
  ref: string;
  /** The full commit it names. */
  commit: string;
  /** `git log -1 --format=%s` of that commit, for the report. */
  subject: string;
  /** The checkout a second tenantql server starts from (`<dir>/bin/tenantql.js start`). */
  dir: string;
  /** Whether this run created the worktree (false: an earlier run's, at the same commit, reused). */
  created: boolean;
}

/**
 * BENCH_BASELINE=<ref>: the ref checked out into `<workDir>/baseline-<commit>` with
 * `git worktree add --detach`, or that worktree reused when it is already there at that commit.
 * Its `node_modules` is a symlink to this checkout's (created only when it has none). Nothing the
 * user has is removed: a directory at that path on another commit is an error, not a checkout.
 */
export async function prepareBaseline(
  ref: string,
  workDir: string,
  log: (line: string) => void,
): Promise<Baseline> {
  const commit = await git(['rev-parse', '--verify', '--end-of-options', `${ref}^{commit}`]).catch(() => {
    throw new Error(`BENCH_BASELINE=${ref} names no commit of this repository`);
  });
  const subject = await git(['log', '-1', '--format=%s', commit]);
  const dir = join(workDir, `baseline-${commit.slice(0, 12)}`);
  let created = false;
  if (existsSync(dir)) {
    const head = await git(['rev-parse', 'HEAD'], dir).catch(() => '');
    if (head !== commit)
      throw new Error(
        `${dir} exists but is not a checkout of ${commit.slice(0, 12)} (HEAD ${head || 'unknown'}): move it away or remove it (git worktree remove) and run again`,
      );
    log(`baseline ${ref} (${commit.slice(0, 12)}): reusing the worktree ${dir}`);
  } else {
    await git(['worktree', 'add', '--detach', dir, commit]);
    created = true;
    log(`baseline ${ref} (${commit.slice(0, 12)}): worktree added at ${dir}`);
  }
  const modules = join(dir, 'node_modules');
  // lstat, not existsSync: a dangling link is the user's too, and left as it is.
  const present = await lstat(modules).then(
    () => true,
    () => false,
  );
  if (!present) await symlink(resolve('node_modules'), modules, 'dir');
  // The same node_modules serves both: say so when the baseline locked other versions.
  const [ours, theirs] = await Promise.all([
    readFile('package-lock.json', 'utf8'),
    readFile(join(dir, 'package-lock.json'), 'utf8').catch(() => ''),
  ]);
  if (ours !== theirs)
    log(`baseline: its package-lock.json differs from this checkout's; it runs with this node_modules`);
  return { ref, commit, subject, dir, created };
}
