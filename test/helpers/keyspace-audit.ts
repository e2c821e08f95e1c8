import { Redis } from 'ioredis';
import { KEY_PATTERN } from '../../src/cache/keyspace.js';

/** Keys of every logical database of the server at `url` that break SPEC §8's prefix rule. */
export async function keyspaceViolations(url: string, limit = 20): Promise<string[]> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  const bad: string[] = [];
  try {
    const info = await redis.info('keyspace');
    const databases = [...info.matchAll(/^db(\d+):/gm)].map((m) => Number(m[1]));
    for (const db of databases) {
      await redis.select(db);
      let cursor = '0';
      for (let round = 0; round < 100_000 && bad.length < limit; round++) {
        const [next, batch] = await redis.scan(cursor, 'COUNT', 1000);
        for (const key of batch) if (!KEY_PATTERN.test(key)) bad.push(`db${db} ${key}`);
        cursor = next;
        if (cursor === '0') break;
      }
    }
  } finally {
    redis.disconnect();
  }
  return bad.slice(0, limit);
}

/**
 * For the global teardown: after the whole run, every key on the run's own Valkey must start
 * with `{t<ID>}:` or `{sys}:`. vitest ignores errors thrown by a global teardown, so a
 * violation is printed and the process exit code set once vitest is done.
 */
export async function requireTenantKeyspace(url: string): Promise<void> {
  const bad = await keyspaceViolations(url);
  if (bad.length === 0) return;
  console.error(
    `Keys outside the tenant keyspace ({t<ID>}: or {sys}:) after the run:\n  ${bad.join('\n  ')}`,
  );
  process.on('exit', () => {
    process.exitCode = 1;
  });
}
