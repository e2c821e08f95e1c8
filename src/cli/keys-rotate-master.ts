import { defineCommand, masterKeysFromEnv, UsageError, urlFromEnv } from './command.js';

/**
 * `tenantql keys rotate-master` (SPEC §12): re-wraps every tenant's data key from
 * TENANT_MASTER_KEY to TENANT_MASTER_KEY_NEW. The keys come from the environment only: an argument
 * would be readable by every user of the machine (ps, /proc). Counts go out, keys never.
 */
export default defineCommand({
  name: 'keys rotate-master',
  summary: 're-wrap every data key from TENANT_MASTER_KEY to TENANT_MASTER_KEY_NEW',
  usage: [''],
  description: `Re-wraps every tenant's data key, stored wrapped in the key store database <NAME>_keys,
from TENANT_MASTER_KEY to TENANT_MASTER_KEY_NEW, in batches, each key by compare-and-set. No data
is rewritten: the data keys stay the same. A key already under the new master key is skipped, so
an interrupted run is finished by running it again. Prints one JSON line of counts; exit 1, with
one line naming the tenant, at a key that opens with neither master key.

Before: set TENANT_MASTER_KEY_NEW on every server too (they then open keys under either, and
wrap new ones under the new key). After: TENANT_MASTER_KEY=<the new key>, unset
TENANT_MASTER_KEY_NEW, restart the servers. See docs/encryption.md.
`,
  env: {
    TENANT_MASTER_KEY: 'the master key the data keys are wrapped with now (base64 of 32 bytes)',
    TENANT_MASTER_KEY_NEW: 'the master key to wrap them with (base64 of 32 bytes)',
    DATABASE_OWNER_URL: 'the owner role of the main database; the key store is its NAME_keys',
    NODE_ENV: 'production: TENANT_MASTER_KEY is required (no development key)',
  },
  async run(_args, env) {
    if (!env.TENANT_MASTER_KEY_NEW) throw new UsageError('TENANT_MASTER_KEY_NEW is not set');
    const ownerUrl = urlFromEnv(env, 'DATABASE_OWNER_URL');
    const say = (line: string) => process.stderr.write(`tenantql keys rotate-master: ${line}\n`);
    const masterKeys = masterKeysFromEnv(env, say);
    if (!masterKeys) return 1;
    const { keysDatabaseUrl } = await import('../db/keys-database.js');
    const { createKeyStorePool, PostgresKeyStore } = await import('../crypto/key-store.js');
    const { rotateMasterKey, RotationStopped } = await import('../crypto/rotate-master.js');
    const { describeConnectionFailure } = await import('../db/connection-failure.js');
    const { silentLogger } = await import('../observability/logger.js');
    const keysUrl = keysDatabaseUrl(ownerUrl);
    const pool = createKeyStorePool({ url: keysUrl, logger: silentLogger });
    try {
      const report = await rotateMasterKey({
        store: new PostgresKeyStore(pool),
        from: masterKeys.current,
        to: masterKeys.next!,
        onProgress: (walked) => say(`${walked} keys so far`),
      });
      process.stdout.write(`${JSON.stringify(report)}\n`);
      say(
        `every key is under master key ${report.to} now: set TENANT_MASTER_KEY to the new key, unset TENANT_MASTER_KEY_NEW, restart the servers`,
      );
      return 0;
    } catch (error) {
      say(
        error instanceof RotationStopped
          ? error.message
          : (describeConnectionFailure(error, 'DATABASE_OWNER_URL', keysUrl) ??
              `failed: ${(error as Error).message}`),
      );
      return 1;
    } finally {
      await pool.end();
    }
  },
});
