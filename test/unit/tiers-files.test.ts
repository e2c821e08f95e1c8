import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TenantSet } from '../../src/tenancy/tenant-set.js';
import { parseTenantsFile } from '../../src/tenancy/tenants-file.js';
import { dedicatedNames } from '../../src/tiers/names.js';
import { placementProblems } from '../../src/tiers/placement.js';
import { readSecretsFile, writeSecretsFile } from '../../src/tiers/secrets-file.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tenantql-tiers-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const entry = {
  database: 'tq_t5',
  rw: { user: 'tq_t5_rw', password: 'rw-secret-value' },
  ro: { user: 'tq_t5_ro', password: 'ro-secret-value' },
};

describe('TENANT_SECRETS_FILE', () => {
  it('is written 0600 in a 0700 directory and read back; a missing file is an empty one', async () => {
    const file = join(dir, 'a', 'secrets.json');
    expect(await readSecretsFile(file)).toEqual({ ok: true, secrets: new Map() });
    await writeSecretsFile(file, new Map([[5, entry]]));
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'a'))).mode & 0o777).toBe(0o700);
    expect(await readSecretsFile(file)).toEqual({ ok: true, secrets: new Map([[5, entry]]) });
  });

  it('refuses a file others can read, and names a malformed entry without quoting a value', async () => {
    const open = join(dir, 'open.json');
    await writeFile(open, JSON.stringify({ version: 1, tenants: { 5: entry } }));
    await chmod(open, 0o644);
    expect(await readSecretsFile(open)).toEqual({
      ok: false,
      problems: [`${open}: readable by others (mode 644); chmod 600 it`],
    });
    const broken = join(dir, 'broken.json');
    await writeFile(
      broken,
      JSON.stringify({ version: 1, tenants: { 5: { ...entry, ro: { user: 'tq_t5_ro', password: 42 } } } }),
      { mode: 0o600 },
    );
    const read = await readSecretsFile(broken);
    expect(read).toEqual({ ok: false, problems: [`${broken}: tenants.5.ro.password: malformed entry`] });
    expect(JSON.stringify(read)).not.toContain('rw-secret-value');
    expect(await readFile(broken, 'utf8')).toContain('rw-secret-value'); // it was there to leak
  });
});

describe('placement problems', () => {
  const set = (isolation5: string) => {
    const parsed = parseTenantsFile(
      JSON.stringify({
        baseDomain: 'localhost',
        tenants: [
          { id: 2, subdomain: 'one', name: 'One' },
          { id: 5, subdomain: 'vault', name: 'Vault', isolation: isolation5 },
        ],
      }),
    );
    if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
    return TenantSet.from(parsed.config);
  };
  const secrets = new Map([[5, entry]]);

  it('none when the file agrees with the database and the credentials are there', () => {
    expect(placementProblems(set('database'), new Map([[5, 'database']]), secrets, 's.json')).toEqual([]);
    expect(placementProblems(set('shared'), new Map([[5, 'shared']]), new Map(), 's.json')).toEqual([]);
    // A tenant the database does not know yet is shared.
    expect(placementProblems(set('shared'), new Map(), new Map(), 's.json')).toEqual([]);
  });

  it('one line per disagreement, naming the command that fixes it', () => {
    expect(placementProblems(set('database'), new Map(), secrets, 's.json')).toEqual([
      'tenant 5 (vault): "isolation": "database" in the file, but its rows are in the shared database; run `tenantql tenants provision 5` first (`tenantql tenants move 5 --to database` if it has rows)',
    ]);
    expect(placementProblems(set('shared'), new Map([[5, 'database']]), secrets, 's.json')).toEqual([
      'tenant 5 (vault): "isolation": "shared" in the file, but its rows are in a database of its own; run `tenantql tenants move 5 --to shared`, or keep "isolation": "database"',
    ]);
    expect(placementProblems(set('database'), new Map([[5, 'database']]), new Map(), 's.json')).toEqual([
      'tenant 5 (vault): no credentials in s.json; run `tenantql tenants provision 5` (it keeps the data and writes them)',
    ]);
  });
});

describe('dedicated names', () => {
  it('derive from the main database and the id, within PostgreSQL identifiers', () => {
    expect(dedicatedNames('tenantql', 42)).toEqual({
      database: 'tenantql_t42',
      rw: 'tenantql_t42_rw',
      ro: 'tenantql_t42_ro',
      owner: 'tenantql_t42_owner',
      app: 'tenantql_t42_app',
      admin: 'tenantql_t42_admin',
      connect: 'tenantql_t42_connect',
    });
    expect(() => dedicatedNames('x'.repeat(44), 2_147_483_647)).toThrow(/exceeds 63 bytes/);
  });
});
