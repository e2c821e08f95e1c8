import { defineCommand, masterKeysFromEnv, tenantIdArgument, UsageError, urlFromEnv } from './command.js';

/**
 * `tenantql tenants import ID FILE` (SPEC §11): loads an export into a tenant that has no rows,
 * ids preserved; one line and exit 1 for a refusal.
 */
export default defineCommand({
  name: 'tenants import',
  summary: 'load an export into a tenant that has no rows, ids preserved',
  usage: ['ID FILE'],
  description: `Loads FILE, written by \`tenantql tenants export\`, into tenant ID in one transaction: parents
first, every id as it was, tenant_id set to ID (the exported tenant or another one). Identity
sequences and the per-tenant id counters move past the imported ids, so new rows continue
after them. A dedicated tenant's rows go to its own database. Refused, with nothing written:
an unknown tenant, a tenant with rows, a file of another schema version (other migrations),
a file whose rows do not match its header. Encrypted fields (SPEC §12) are re-encrypted with
tenant ID's data key when ID is another tenant; refused when the exported tenant's key is gone
(it was purged) or a value does not decrypt.
`,
  positionals: [
    { name: 'ID', help: 'the tenant id (required)' },
    { name: 'FILE', help: 'the export (required)' },
  ],
  env: {
    DATABASE_OWNER_URL: 'the owner role of the main database (the key store is its NAME_keys)',
    TENANT_MASTER_KEY: 'opens the data keys (base64 of 32 bytes; required with NODE_ENV=production)',
  },
  async run({ positionals }, env, loadProduct) {
    const [id, file] = positionals;
    const tenantId = tenantIdArgument(id);
    if (file === undefined) throw new UsageError('the FILE to import is required');
    const ownerUrl = urlFromEnv(env, 'DATABASE_OWNER_URL');
    const say = (line: string) => process.stderr.write(`tenantql tenants import: ${line}\n`);
    const masterKeys = masterKeysFromEnv(env, say);
    if (!masterKeys) return 1;
    const { importTenant, ImportRefused } = await import('../lifecycle/import.js');
    const { describeConnectionFailure } = await import('../db/connection-failure.js');
    const { openDataKeys } = await import('../crypto/data-keys.js');
    const { keysDatabaseUrl } = await import('../db/keys-database.js');
    const columns = (await loadProduct())?.encryptedColumns ?? [];
    const keys = openDataKeys(keysDatabaseUrl(ownerUrl), masterKeys);
    try {
      const report = await importTenant({
        ownerUrl,
        tenantId,
        file,
        onProgress: (rows) => say(`${rows} rows so far`),
        encryption: { columns, dataKeys: keys.dataKeys },
      });
      const rows = Object.values(report.counts).reduce((a, b) => a + b, 0);
      process.stdout.write(`tenant ${id}: ${rows} rows of tenant ${report.from} imported from ${file}\n`);
      return 0;
    } catch (error) {
      const line =
        error instanceof ImportRefused
          ? error.message
          : (describeConnectionFailure(error, 'DATABASE_OWNER_URL', ownerUrl) ??
            `failed: ${(error as Error).message.replaceAll('\n', ' ')}`);
      say(line);
      return 1;
    } finally {
      await keys.close();
    }
  },
});
