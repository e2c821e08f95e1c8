import { readTenantsFile } from '../tenancy/tenants-file.js';

/** `tenantql tenants-check [FILE]`: validates a tenants file without starting the server. */
export default async function tenantsCheck(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const file = argv[0] ?? env.TENANTS_FILE ?? './tenants.json';
  const result = await readTenantsFile(file);
  if (!result.ok) {
    for (const problem of result.problems) process.stderr.write(`${problem}\n`);
    return 1;
  }
  process.stdout.write(`ok: ${result.config.tenants.length} tenants in ${file}\n`);
  return 0;
}
