import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Scenario P's PostGraphile 4 lives in bench/postgraphile/, a package of its own (it needs
 * graphql 15; the root has 16) with its own lockfile. Its node_modules is not part of the root's
 * `npm install`: the bench installs it when it is missing or older than the lockfile.
 */
export const POSTGRAPHILE_DIR = resolve('bench/postgraphile');
export const POSTGRAPHILE_SERVER = join(POSTGRAPHILE_DIR, 'server.cjs');
export const INSTALL_COMMAND = 'npm ci --prefix bench/postgraphile';

const mtime = (path: string) =>
  stat(path).then(
    (s) => s.mtimeMs,
    () => undefined,
  );

/** Installs bench/postgraphile if needed; the PostGraphile version, or why it is not there. */
export async function ensurePostgraphile(
  log: (line: string) => void,
): Promise<{ version: string } | { missing: string }> {
  const lock = await mtime(join(POSTGRAPHILE_DIR, 'package-lock.json'));
  const installed = await mtime(join(POSTGRAPHILE_DIR, 'node_modules/.package-lock.json'));
  if (installed === undefined || (lock !== undefined && lock > installed)) {
    log(`scenario P: installing PostGraphile 4 (${INSTALL_COMMAND})`);
    try {
      await run('npm', ['ci', '--prefix', POSTGRAPHILE_DIR, '--no-audit', '--no-fund', '--loglevel=error'], {
        timeout: 300_000,
      });
    } catch (error) {
      const lines = ((error as { stderr?: string }).stderr ?? String(error)).trim().split('\n');
      const why = lines.find((l) => /\berror\b/i.test(l) && !/complete log/.test(l)) ?? lines[0];
      return { missing: `PostGraphile 4 could not be installed (${why}); run: ${INSTALL_COMMAND}` };
    }
  }
  try {
    const manifest = JSON.parse(
      await readFile(join(POSTGRAPHILE_DIR, 'node_modules/postgraphile/package.json'), 'utf8'),
    ) as { version: string };
    return { version: manifest.version };
  } catch {
    return { missing: `PostGraphile 4 is not installed; run: ${INSTALL_COMMAND}` };
  }
}
