import pg from 'pg';
import { openDataKeys } from '../src/crypto/data-keys.js';
import { FieldEncryption } from '../src/crypto/field-encryption.js';
import { keysDatabaseUrl } from '../src/db/keys-database.js';
import { memberEmail } from '../src/example/types/member.js';
import { silentLogger } from '../src/observability/logger.js';
import { FIRST_TENANT } from './seed.js';

/**
 * Scenario M (docs/performance.md): a listing of 100 members, their emails encrypted (tenants
 * ENCRYPTED) against the same listing of plaintext emails (tenants PLAINTEXT, served as stored,
 * as rows from before encryption are), in the same server and run. Both groups get members up to
 * 100; the encrypted group's emails are then encrypted and hashed as createMember does.
 */
export const MEMBER_LISTING = {
  count: 100,
  encrypted: range(FIRST_TENANT, 10),
  plaintext: range(FIRST_TENANT + 10, 10),
};
const SHAPE_KEY = `members v1 ${MEMBER_LISTING.count} in ${FIRST_TENANT}..${FIRST_TENANT + 19}`;

function range(first: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => first + i);
}

export async function seedMemberListing(superuserDbUrl: string, masterKeyBase64: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: superuserDbUrl, application_name: 'tenantql bench seed' });
  await client.connect();
  const keys = openDataKeys(keysDatabaseUrl(superuserDbUrl), {
    current: Buffer.from(masterKeyBase64, 'base64'),
    dev: false,
  });
  try {
    const found = await client.query('SELECT 1 FROM bench.seed WHERE shape = $1', [SHAPE_KEY]);
    if (found.rowCount) return false;
    await client.query('BEGIN');
    const all = [...MEMBER_LISTING.encrypted, ...MEMBER_LISTING.plaintext];
    await client.query(
      `INSERT INTO app.members (tenant_id, id, name, email)
       SELECT t, m, format('T%s member %s', t, m), format('m%s@t%s.bench.test', m, t)
       FROM unnest($1::int[]) t, generate_series(1, $2::int) m
       ON CONFLICT (tenant_id, id) DO NOTHING`,
      [all, MEMBER_LISTING.count],
    );
    for (const tenantId of MEMBER_LISTING.encrypted) {
      const scope = { encryption: new FieldEncryption(tenantId, keys.dataKeys, silentLogger) };
      const { rows } = await client.query<{ id: string; email: string }>(
        'SELECT id, email FROM app.members WHERE tenant_id = $1 ORDER BY id',
        [tenantId],
      );
      const values = await Promise.all(
        rows.map(
          async (r) =>
            [
              r.id,
              await memberEmail.encrypt(scope, r.email),
              await memberEmail.hash(scope, r.email),
            ] as const,
        ),
      );
      await client.query(
        `UPDATE app.members m SET email = v.email, email_hash = v.hash
           FROM unnest($2::bigint[], $3::text[], $4::bytea[]) AS v(id, email, hash)
          WHERE m.tenant_id = $1 AND m.id = v.id`,
        [tenantId, values.map((v) => v[0]), values.map((v) => v[1]), values.map((v) => v[2])],
      );
    }
    await client.query('INSERT INTO bench.seed (shape) VALUES ($1)', [SHAPE_KEY]);
    await client.query('COMMIT');
    return true;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    await keys.close();
    await client.end();
  }
}
