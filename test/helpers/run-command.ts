import { vi } from 'vitest';
import type { LoadProduct } from '../../src/cli/command.js';
import { runCommand } from '../../src/cli/run.js';

/** `tenantql ...args` in process, as bin/tenantql runs it, with what it wrote to stdout and stderr. */
export async function tenantqlInProcess(
  args: string[],
  env: NodeJS.ProcessEnv,
  product: LoadProduct = async () => undefined,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = { stdout: '', stderr: '' };
  for (const stream of ['stdout', 'stderr'] as const) {
    vi.spyOn(process[stream], 'write').mockImplementation((chunk) => {
      out[stream] += String(chunk);
      return true;
    });
  }
  try {
    const code = await runCommand(args, env, product);
    return { code, ...out };
  } finally {
    vi.restoreAllMocks();
  }
}
