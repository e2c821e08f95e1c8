import { defineCommand } from './command.js';

/** `tenantql tenants check [FILE]`: validates a tenants file without starting the server. */
export default defineCommand({
  name: 'tenants check',
  summary: 'validate a tenants file',
  description: 'Validates a tenants file: prints every problem with its JSON path and exits 1, or ok.\n',
  positionals: [{ name: 'FILE', help: 'the file to check (default TENANTS_FILE, else ./tenants.json)' }],
  env: { TENANTS_FILE: 'the file checked when FILE is not given' },
  async run({ positionals }, env) {
    const { readTenantsFile } = await import('../tenancy/tenants-file.js');
    const file = positionals[0] ?? env.TENANTS_FILE ?? './tenants.json';
    const result = await readTenantsFile(file);
    if (!result.ok) {
      for (const problem of result.problems) process.stderr.write(`${problem}\n`);
      return 1;
    }
    process.stdout.write(`ok: ${result.config.tenants.length} tenants in ${file}\n`);
    return 0;
  },
});
