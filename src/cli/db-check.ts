import { defineCommand, UsageError } from './command.js';

/**
 * `tenantql db check`: connected as the runtime role, prints `ok` or one problem a line
 * (each naming its table or role) and exits 1 if there is any.
 */
export default defineCommand({
  name: 'db check',
  summary: 'verify RLS on every tenant table, as DATABASE_URL',
  usage: [''],
  description: `Connected as the runtime role, prints ok, or one problem a line (each naming its table
or role) and exits 1: a tenant table without forced row level security and a policy, or a
runtime role that can bypass it.
`,
  env: { DATABASE_URL: 'the runtime role' },
  async run(_args, env) {
    const runtimeUrl = env.DATABASE_URL;
    if (!runtimeUrl) throw new UsageError('DATABASE_URL is not set');
    if (!URL.canParse(runtimeUrl)) throw new UsageError('DATABASE_URL is not a URL');
    const { checkCatalog } = await import('../db/catalog-check.js');
    const { describeConnectionFailure } = await import('../db/connection-failure.js');
    try {
      const problems = await checkCatalog(runtimeUrl);
      process.stdout.write(problems.length ? problems.map((problem) => `${problem}\n`).join('') : 'ok\n');
      return problems.length ? 1 : 0;
    } catch (error) {
      const line =
        describeConnectionFailure(error, 'DATABASE_URL', runtimeUrl) ?? `failed: ${(error as Error).message}`;
      process.stderr.write(`tenantql db check: ${line}\n`);
      return 1;
    }
  },
});
