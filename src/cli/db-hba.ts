import { defineCommand, UsageError } from './command.js';

/**
 * `tenantql db hba`: prints the pg_hba.conf lines for the dedicated tenants of the tenants file
 * (SPEC §10). It reads the file and the main database's name from DATABASE_URL, and connects to
 * nothing: the lines are for an operator to paste, on a host this command may not reach.
 */
export default defineCommand({
  name: 'db hba',
  summary: 'print pg_hba.conf lines: each dedicated database for its own roles only',
  description: `Prints pg_hba.conf lines that let each dedicated tenant database (<NAME>_t<ID>) be
reached only by the members of its NOLOGIN group <NAME>_t<ID>_connect, and keep those tenants'
login roles off the shared database NAME. Put them before any broader host line, then run
SELECT pg_reload_conf(). Connects to nothing.
`,
  options: {
    address: {
      type: 'string',
      value: 'CIDR',
      help: 'where their roles may connect from: all (default), samehost, samenet or a CIDR',
    },
    file: {
      type: 'string',
      value: 'FILE',
      help: 'the tenants file (default TENANTS_FILE, else ./tenants.json)',
    },
  },
  env: {
    DATABASE_URL: 'names the main database NAME (else DATABASE_OWNER_URL)',
    TENANTS_FILE: 'the tenants file when --file is not given (default ./tenants.json)',
  },
  async run({ values }, env) {
    const { databaseOf } = await import('../tiers/names.js');
    const { hbaLines, isHbaAddress } = await import('../tiers/hba.js');
    const address = values.address ?? 'all';
    if (!isHbaAddress(address)) {
      throw new UsageError(
        `--address "${address}" is not all, samehost, samenet or a CIDR (10.0.0.0/8, fd00::/8)`,
      );
    }
    const variable = env.DATABASE_URL ? 'DATABASE_URL' : 'DATABASE_OWNER_URL';
    const url = env[variable];
    if (!url) throw new UsageError('DATABASE_URL is not set (it names the main database)');
    if (!URL.canParse(url)) throw new UsageError(`${variable} is not a URL`);

    const { readTenantsFile } = await import('../tenancy/tenants-file.js');
    const file = values.file ?? env.TENANTS_FILE ?? './tenants.json';
    const result = await readTenantsFile(file);
    if (!result.ok) {
      process.stderr.write(`${file}:\n${result.problems.map((problem) => `${problem}\n`).join('')}`);
      return 1;
    }
    let text: string;
    try {
      text = hbaLines({ mainDatabase: databaseOf(url), tenants: result.config.tenants, address });
    } catch (error) {
      // A URL without a database, or a name pg_hba.conf cannot hold.
      process.stderr.write(`tenantql db hba: ${variable}: ${(error as Error).message}\n`);
      return 1;
    }
    process.stdout.write(text);
    return 0;
  },
});
