import { defineCommand, masterKeysFromEnv, UsageError, urlFromEnv } from './command.js';

/**
 * `tenantql keys encrypt-existing` (SPEC §12): encrypts, in place, the values of the product's
 * encrypted columns that were stored before the column was encrypted. Batched and resumable.
 */
export default defineCommand({
  name: 'keys encrypt-existing',
  summary: "encrypt the values stored before a column was encrypted, with each tenant's key",
  usage: ['[--batch N]'],
  description: `Encrypts, tenant by tenant and wherever its rows are (the shared database or its own), every
value of the product's encrypted columns (Product.encryptedColumns; the demo's: app.members.email)
that is still plaintext, with the tenant's data key, and writes its keyed hash. N values per
committed transaction (default 500), under the tenant's row security, so the server keeps
serving. Stopped midway, run it again: only plaintext values are picked. Prints one JSON line
(values encrypted per column, conflicts); exit 1 when some values stay in plaintext because
their hash is another row's (the same email written twice since the migration): resolve those
rows and run again. Run it once after \`tenantql migrate\` brought in an encrypted column.
`,
  options: {
    batch: { type: 'string', value: 'N', help: 'values per transaction (default 500)' },
  },
  env: {
    DATABASE_OWNER_URL: 'the owner role of the main database (the key store is its NAME_keys)',
    TENANT_MASTER_KEY: 'opens the data keys (base64 of 32 bytes; required with NODE_ENV=production)',
    TENANT_MASTER_KEY_NEW: 'during a rotation, the next master key',
  },
  async run({ values }, env, loadProduct) {
    const ownerUrl = urlFromEnv(env, 'DATABASE_OWNER_URL');
    const say = (line: string) => process.stderr.write(`tenantql keys encrypt-existing: ${line}\n`);
    const batchSize = values.batch === undefined ? 500 : Number(values.batch);
    if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > 100_000)
      throw new UsageError(`--batch must be a whole number from 1 to 100000, not '${values.batch}'`);
    const masterKeys = masterKeysFromEnv(env, say);
    if (!masterKeys) return 1;
    const columns = (await loadProduct())?.encryptedColumns ?? [];
    if (columns.length === 0) {
      say('the product declares no encrypted columns: nothing to do');
      return 0;
    }
    const { encryptExisting } = await import('../lifecycle/encrypt-existing.js');
    const { openDataKeys } = await import('../crypto/data-keys.js');
    const { keysDatabaseUrl } = await import('../db/keys-database.js');
    const { describeConnectionFailure } = await import('../db/connection-failure.js');
    const keys = openDataKeys(keysDatabaseUrl(ownerUrl), masterKeys);
    try {
      const report = await encryptExisting({
        ownerUrl,
        columns,
        dataKeys: keys.dataKeys,
        batchSize,
        onTenant: (tenantId, n) => {
          if (n > 0) say(`tenant ${tenantId}: ${n} values encrypted`);
        },
      });
      process.stdout.write(`${JSON.stringify(report)}\n`);
      for (const c of report.conflicts) {
        say(
          `tenant ${c.tenant}: ${c.rows} values of ${c.column} stay in plaintext: another row has the same value; resolve and run again`,
        );
      }
      return report.conflicts.length > 0 ? 1 : 0;
    } catch (error) {
      say(
        describeConnectionFailure(error, 'DATABASE_OWNER_URL', ownerUrl) ??
          `failed: ${(error as Error).message.replaceAll('\n', ' ')}`,
      );
      return 1;
    } finally {
      await keys.close();
    }
  },
});
