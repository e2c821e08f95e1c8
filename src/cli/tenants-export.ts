import { defineCommand, tenantIdArgument, urlFromEnv } from './command.js';

/**
 * `tenantql tenants export ID [--out FILE]` (SPEC §11): every row of the tenant from one
 * snapshot, as JSON lines after a header line; a progress line on stderr for long exports.
 */
export default defineCommand({
  name: 'tenants export',
  summary: 'every row of a tenant from one snapshot, as JSON lines (stdout or --out)',
  usage: ['ID [--out FILE]'],
  description: `Writes every row of tenant ID, read from one REPEATABLE READ, READ ONLY snapshot, as JSON
lines: first {"tenant":ID,"exportedAt":...,"schema":...,"counts":{table: n}}, then one
{"table":...,"row":{...}} per row, tables parents first. Every table with a tenant_id column takes
part, a product's too. A dedicated tenant is read in its own database.
`,
  options: { out: { type: 'string', value: 'FILE', help: 'write here instead of stdout' } },
  positionals: [{ name: 'ID', help: 'the tenant id (required)' }],
  env: { DATABASE_OWNER_URL: 'the owner role of the main database' },
  async run({ values, positionals }, env) {
    const id = positionals[0];
    const tenantId = tenantIdArgument(id);
    const ownerUrl = urlFromEnv(env, 'DATABASE_OWNER_URL');
    const { createWriteStream } = await import('node:fs');
    const { finished } = await import('node:stream/promises');
    const { exportTenant, ExportRefused } = await import('../lifecycle/export.js');
    const { describeConnectionFailure } = await import('../db/connection-failure.js');
    const out = values.out ? createWriteStream(values.out, { mode: 0o600 }) : process.stdout;
    try {
      const header = await exportTenant({
        ownerUrl,
        tenantId,
        out,
        onProgress: (rows) => process.stderr.write(`tenantql tenants export: ${rows} rows so far\n`),
      });
      if (out !== process.stdout) {
        out.end();
        await finished(out);
        const rows = Object.values(header.counts).reduce((a, b) => a + b, 0);
        process.stderr.write(
          `tenantql tenants export: ${rows} rows of tenant ${id} written to ${values.out}\n`,
        );
      }
      return 0;
    } catch (error) {
      if (out !== process.stdout) out.destroy();
      const line =
        error instanceof ExportRefused
          ? error.message
          : (describeConnectionFailure(error, 'DATABASE_OWNER_URL', ownerUrl) ??
            `failed: ${(error as Error).message}`);
      process.stderr.write(`tenantql tenants export: ${line}\n`);
      return 1;
    }
  },
});
