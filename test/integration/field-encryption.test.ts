import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { openDataKeys } from '../../src/crypto/data-keys.js';
import { CorruptCiphertext, decryptField } from '../../src/crypto/envelope.js';
import { unwrapKey } from '../../src/crypto/key-wrap.js';
import { demo } from '../../src/example/product.js';
import { createLogger } from '../../src/observability/logger.js';
import { CACHE_HEADER } from '../../src/pipeline/plugins/use-response-cache.js';
import { defaultTenants, TEST_MASTER_KEY, TestApp } from '../helpers/app.js';
import { withClient } from '../helpers/db.js';
import { startPeer } from '../helpers/instances.js';
import { tenantqlInProcess } from '../helpers/run-command.js';
import { sharedValkeyUrl } from '../helpers/valkey.js';

// SPEC §12, end to end: Member.email is encrypted in the server with the tenant's data key
// before it reaches PostgreSQL, unique per tenant on a keyed hash; a copied ciphertext does not
// open; nothing decrypted goes to Valkey; a purge shreds the key, so neither a dump nor an
// export taken before it decrypts; an import re-encrypts into another tenant's key; the master
// key rotates under load; rows stored before encryption are encrypted in place, resumably.
const url = sharedValkeyUrl(14);
const extra = [
  { id: 7, subdomain: 'shred', name: 'Shredded' },
  { id: 8, subdomain: 'heir', name: 'Heir' },
  { id: 9, subdomain: 'copy', name: 'Copy' },
];
const tenants = { ...defaultTenants, tenants: [...defaultTenants.tenants, ...extra] };
const HOSTS: Record<number, string> = {
  2: 'tenant1.localhost',
  3: 'tenant2.localhost',
  4: 'tenant3.localhost',
};
for (const x of extra) HOSTS[x.id] = `${x.subdomain}.localhost`;
const masterKey = Buffer.from(TEST_MASTER_KEY, 'base64');
const MEMBERS = '{ members(first: 50) { edges { node { name email } } } }';

const log = {
  text: '',
  write(chunk: string) {
    this.text += chunk;
  },
  lines: (): Record<string, unknown>[] =>
    log.text
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line)),
};

let t: TestApp;
let redis: Redis;
let dir: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  redis = new Redis(url);
  await redis.flushdb();
  t = await TestApp.start({
    tenants,
    valkeyUrl: url,
    env: { CACHE_TTL_SECONDS: '30' },
    logger: createLogger({ level: 'info', pretty: false, destination: log }),
  });
  dir = await mkdtemp(join(tmpdir(), 'tenantql-encryption-'));
  env = {
    DATABASE_SUPERUSER_URL: t.db.superuserUrl,
    DATABASE_URL: t.db.appUrl,
    DATABASE_OWNER_URL: t.db.ownerUrl,
    TENANTS_FILE: t.tenantsFile,
    TENANT_SECRETS_FILE: t.secretsFile,
    TENANT_MASTER_KEY: TEST_MASTER_KEY,
    VALKEY_URL: url,
  };
});
afterAll(async () => {
  await t?.close();
  redis?.disconnect();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const tenantql = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) =>
  tenantqlInProcess(args, { ...env, ...extraEnv }, async () => demo);

async function gql(tenantId: number, query: string, variables: object = {}) {
  return t.gql(HOSTS[tenantId]!, query, { token: await t.token(tenantId), variables });
}

async function createMember(tenantId: number, name: string, email: string) {
  return gql(
    tenantId,
    'mutation($n: String!, $e: String!) { createMember(input: { name: $n, email: $e }) { id name email } }',
    { n: name, e: email },
  );
}

async function emailsOf(tenantId: number): Promise<string[]> {
  const res = await gql(tenantId, MEMBERS);
  expect(res.body.errors).toBeUndefined();
  return res.body.data!.members.edges.map((e: { node: { email: string } }) => e.node.email);
}

/** The tenant's member rows as the superuser reads them (no row security applies). */
async function storedMembers(tenantId: number) {
  return withClient(t.db.superuserUrl, async (c) => {
    const { rows } = await c.query<{ id: string; email: string; email_hash: Buffer | null; text: string }>(
      'SELECT id, email, email_hash, m::text AS text FROM app.members m WHERE tenant_id = $1 ORDER BY id',
      [tenantId],
    );
    return rows;
  });
}

/**
 * A dump of the data database: pg_dump when the one on PATH can dump this server (it refuses a
 * newer major version, e.g. the embedded PostgreSQL 17 with Debian's pg_dump 15), else every
 * row of every table as `COPY … TO STDOUT` writes it — what a data dump holds either way.
 */
async function dumpDataDatabase(): Promise<{ text: string; how: string }> {
  const serverMajor = await withClient(t.db.superuserUrl, async (c) => {
    const { rows } = await c.query<{ v: string }>("SELECT current_setting('server_version_num') AS v");
    return Math.floor(Number(rows[0]!.v) / 10000);
  });
  const pgDump = await promisify(execFile)('pg_dump', ['--version']).catch(() => undefined);
  const dumpMajor = Number(pgDump?.stdout.match(/(\d+)\.\d+/)?.[1] ?? 0);
  if (dumpMajor >= serverMajor) {
    const { stdout } = await promisify(execFile)('pg_dump', ['--dbname', t.db.superuserUrl], {
      maxBuffer: 256 * 1024 * 1024,
    });
    return { text: stdout, how: `pg_dump ${dumpMajor}` };
  }
  const text = await withClient(t.db.superuserUrl, async (c) => {
    const { rows: tables } = await c.query<{ name: string }>(
      `SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables
        WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`,
    );
    const parts: string[] = [];
    for (const { name } of tables) {
      const { rows } = await c.query(`SELECT x::text AS line FROM ${name} x`);
      parts.push(`-- ${name}`, ...rows.map((r) => r.line as string));
    }
    return parts.join('\n');
  });
  return {
    text,
    how: `rows of every table (pg_dump ${dumpMajor || 'missing'} cannot dump PostgreSQL ${serverMajor})`,
  };
}

describe('Member.email, encrypted with the tenant key', () => {
  it('as the PostgreSQL superuser, no column of app.members holds an email written through GraphQL; each tenant reads its own', async () => {
    const written: Record<number, string[]> = {
      2: ['Ada.Lovelace@Analytical.test', 'grace.hopper@navy.test'],
      3: ['alan.turing@bletchley.test'],
    };
    for (const [id, emails] of Object.entries(written)) {
      for (const [i, email] of emails.entries()) {
        const res = await createMember(Number(id), `Member ${i}`, email);
        expect(res.body.errors).toBeUndefined();
        expect(res.body.data!.createMember.email).toBe(email);
      }
    }
    const everyRow = await withClient(t.db.superuserUrl, async (c) => {
      const { rows } = await c.query<{ text: string }>('SELECT m::text AS text FROM app.members m');
      return rows.map((r) => r.text.toLowerCase()).join('\n');
    });
    for (const email of Object.values(written).flat()) {
      expect(everyRow).not.toContain(email.toLowerCase());
      expect(everyRow).not.toContain(email.split('@')[0]!.toLowerCase());
    }
    for (const id of [2, 3]) {
      for (const row of await storedMembers(id)) {
        expect(row.email).toMatch(/^tq1:[A-Za-z0-9_-]+$/);
        expect(row.email_hash).toHaveLength(32);
      }
    }
    expect(await emailsOf(2)).toEqual(written[2]);
    expect(await emailsOf(3)).toEqual(written[3]);
  });

  it('the same email twice in one tenant is BAD_USER_INPUT, whatever its case, nothing written; in two tenants it is fine', async () => {
    const before = await storedMembers(2);
    const again = await createMember(2, 'Ada again', 'ADA.lovelace@analytical.TEST');
    expect(again.body.errors?.[0]).toMatchObject({
      message: 'A member with this email already exists.',
      extensions: { code: 'BAD_USER_INPUT' },
    });
    expect(again.body.data?.createMember ?? null).toBeNull();
    expect(await storedMembers(2)).toEqual(before);

    const elsewhere = await createMember(3, 'Ada of tenant 3', 'Ada.Lovelace@Analytical.test');
    expect(elsewhere.body.errors).toBeUndefined();
    // Keyed per tenant: the same address hashes differently in two tenants.
    const hashes = async (id: number) => (await storedMembers(id)).map((r) => r.email_hash!.toString('hex'));
    const [inTwo, inThree] = [await hashes(2), await hashes(3)];
    expect(inThree).toHaveLength(2);
    expect(inThree).not.toContain(inTwo[0]);
  });

  it("a ciphertext copied from tenant A's row into tenant B's does not decrypt as B: INTERNAL_SERVER_ERROR, no detail, a log line", async () => {
    const victim = await createMember(4, 'Victim', 'victim@tenant3.test');
    expect(victim.body.errors).toBeUndefined();
    const stolen = (await storedMembers(2))[0]!.email;
    await withClient(t.db.superuserUrl, (c) =>
      c.query("UPDATE app.members SET email = $1 WHERE tenant_id = 4 AND name = 'Victim'", [stolen]),
    );
    const res = await gql(4, MEMBERS);
    expect(res.body.errors).toHaveLength(1);
    expect(res.body.errors![0]).toMatchObject({
      message: 'Unexpected error.',
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    });
    expect(JSON.stringify(res.body)).not.toMatch(/tq1|decrypt|at .+\.ts|Lovelace/i);
    expect(log.lines()).toContainEqual(
      expect.objectContaining({
        msg: 'a stored value does not decrypt: corrupt or copied',
        tenantId: 4,
        column: 'app.members.email',
      }),
    );
    // And with tenant A's own key it is A's email: only the binding to the tenant refuses it.
    expect(decryptField(await t.dataKeys.keyFor(2), 2, 'app.members.email', stolen)).toBe(
      'Ada.Lovelace@Analytical.test',
    );
    const key4 = await t.dataKeys.keyFor(4);
    expect(() => decryptField(key4, 4, 'app.members.email', stolen)).toThrow(CorruptCiphertext);
    await withClient(t.db.superuserUrl, (c) =>
      c.query("DELETE FROM app.members WHERE tenant_id = 4 AND name = 'Victim'"),
    );
  });

  it('a response with a decrypted email is never stored in Valkey; one without is', async () => {
    const first = await gql(2, MEMBERS);
    const second = await gql(2, MEMBERS);
    expect([first.headers.get(CACHE_HEADER), second.headers.get(CACHE_HEADER)]).toEqual(['miss', 'miss']);
    const names = '{ members(first: 50) { edges { node { name } } } }';
    await gql(2, names);
    expect((await gql(2, names)).headers.get(CACHE_HEADER)).toBe('hit');
    const values: string[] = [];
    for (const key of await redis.keys('*')) {
      if ((await redis.type(key)) === 'string') values.push((await redis.get(key)) ?? '');
      if ((await redis.type(key)) === 'hash') values.push(...Object.values(await redis.hgetall(key)));
    }
    expect(values.join('\n')).toContain('Member 0'); // the names-only answer is there
    expect(values.join('\n').toLowerCase()).not.toContain('lovelace');
  });
});

describe('crypto-shredding and import', () => {
  it('after a purge, nothing left (master key, key store, dump) decrypts the dumped or exported emails', async () => {
    for (const [i, email] of ['shredded.one@gone.test', 'shredded.two@gone.test'].entries()) {
      expect((await createMember(7, `Gone ${i}`, email)).body.errors).toBeUndefined();
    }
    const ciphertexts = (await storedMembers(7)).map((r) => r.email);
    const exportFile = join(dir, 'tenant-7.jsonl');
    expect((await tenantql(['tenants', 'export', '7', '--out', exportFile])).code).toBe(0);
    const dump = await dumpDataDatabase();
    console.info(`crypto-shredding: the data dump is ${dump.how}, ${dump.text.length} characters`);
    const exported = await readFile(exportFile, 'utf8');
    for (const c of ciphertexts) {
      expect(dump.text).toContain(c);
      expect(exported).toContain(c);
    }
    // Neither holds a wrapped key: those live in <NAME>_keys, which is not in the data dump.
    expect(dump.text).not.toMatch(/data_keys/);
    expect(exported).not.toMatch(/data_keys|wrapped/);

    await t.writeTenants({ ...tenants, tenants: tenants.tenants.filter((x) => x.id !== 7) });
    expect((await t.registry.reload()).ok).toBe(true);
    const purge = await tenantql(['tenants', 'purge', '7', '--confirm', 'shred']);
    expect(purge.code, purge.stderr).toBe(0);
    expect(JSON.parse(purge.stdout)).toMatchObject({ dataKey: 'destroyed', complete: true });

    // What is left: the master key, the key store (every other tenant's key), the dump, the export.
    const found = [...dump.text.matchAll(/tq1:[A-Za-z0-9_-]+/g), ...exported.matchAll(/tq1:[A-Za-z0-9_-]+/g)]
      .map((m) => m[0])
      .filter((c) => ciphertexts.includes(c));
    expect(found.length).toBeGreaterThanOrEqual(2 * ciphertexts.length);
    const candidates: Buffer[] = [masterKey];
    await withClient(t.db.keys.superuserUrl, async (c) => {
      const { rows } = await c.query<{ tenant_id: number; wrapped: Buffer }>(
        'SELECT tenant_id, wrapped FROM keys.data_keys',
      );
      expect(rows.map((r) => r.tenant_id)).not.toContain(7);
      for (const row of rows) {
        // Unwrapped as its own tenant, and as tenant 7 (which does not unwrap at all).
        const own = unwrapKey(masterKey, row.tenant_id, row.wrapped);
        expect(own).toBeInstanceOf(Buffer);
        candidates.push(own!);
        expect(unwrapKey(masterKey, 7, row.wrapped)).toBeUndefined();
      }
    });
    const fresh = openDataKeys(t.db.keys.appUrl, t.config.masterKeys);
    try {
      expect(await fresh.dataKeys.existingKeyFor(7)).toBeUndefined();
      for (const c of found) {
        for (const key of candidates) {
          for (const tenantId of [7, ...[2, 3, 4, 8, 9]]) {
            expect(() => decryptField(key, tenantId, 'app.members.email', c)).toThrow(CorruptCiphertext);
          }
        }
      }
    } finally {
      await fresh.close();
    }

    // The export cannot come back either: its tenant's key is gone.
    const refused = await tenantql(['tenants', 'import', '8', exportFile]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      `tenantql tenants import: ${exportFile} holds values encrypted with the data key of tenant 7, which the key store no longer has (a purged tenant's data cannot be read); nothing was imported\n`,
    );
    expect(await storedMembers(8)).toEqual([]);
  });

  it("an import into another tenant id re-encrypts under the target's key and hashes again", async () => {
    const exportFile = join(dir, 'tenant-2.jsonl');
    expect((await tenantql(['tenants', 'export', '2', '--out', exportFile])).code).toBe(0);
    const run = await tenantql(['tenants', 'import', '9', exportFile]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(await emailsOf(9)).toEqual(await emailsOf(2));
    const [source, copy] = [await storedMembers(2), await storedMembers(9)];
    const key9 = await t.dataKeys.keyFor(9);
    const key2 = await t.dataKeys.keyFor(2);
    for (const [i, row] of copy.entries()) {
      expect(row.email).not.toBe(source[i]!.email);
      expect(row.email_hash).not.toEqual(source[i]!.email_hash);
      expect(decryptField(key9, 9, 'app.members.email', row.email)).toBe(
        decryptField(key2, 2, 'app.members.email', source[i]!.email),
      );
      expect(() => decryptField(key2, 2, 'app.members.email', row.email)).toThrow(CorruptCiphertext);
    }
    // The hashes are tenant 9's: its uniqueness holds for the imported members.
    const duplicate = await createMember(9, 'Twin', 'GRACE.HOPPER@navy.test');
    expect(duplicate.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});

describe('tenantql keys encrypt-existing', () => {
  it('encrypts rows stored before, in committed batches: stopped midway, run again it finishes; a taken hash stays plaintext', async () => {
    const legacy = [
      'legacy.0@old.test',
      'Legacy.1@old.test',
      'legacy.2@old.test',
      'legacy.3@old.test',
      'poison@old.test',
    ];
    await withClient(t.db.superuserUrl, async (c) => {
      for (const [i, email] of legacy.entries())
        await c.query('INSERT INTO app.members (tenant_id, name, email) VALUES (8, $1, $2)', [
          i === 4 ? 'poison' : `legacy ${i}`,
          email,
        ]);
      // A fault after two batches: the update of the last row fails.
      await c.query(`CREATE FUNCTION app.test_poison() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.name = 'poison' THEN RAISE EXCEPTION 'injected fault'; END IF; RETURN NEW; END $$`);
      await c.query(
        'CREATE TRIGGER test_poison BEFORE UPDATE ON app.members FOR EACH ROW EXECUTE FUNCTION app.test_poison()',
      );
    });
    // Before: served as stored (the column's earlier rows), not yet unique-checked.
    expect(await emailsOf(8)).toEqual(legacy);

    const stopped = await tenantql(['keys', 'encrypt-existing', '--batch', '2']);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toMatch(/^tenantql keys encrypt-existing: failed: injected fault\n$/);
    const plaintextLeft = async () =>
      (await storedMembers(8)).filter((r) => !r.email.startsWith('tq1:')).map((r) => r.email);
    expect(await plaintextLeft()).toEqual(['poison@old.test']);
    await withClient(t.db.superuserUrl, async (c) => {
      await c.query('DROP TRIGGER test_poison ON app.members');
      await c.query('DROP FUNCTION app.test_poison()');
    });

    // Written since the migration, through GraphQL: the same address as the plaintext one.
    expect((await createMember(8, 'Newcomer', 'POISON@old.test')).body.errors).toBeUndefined();
    const conflict = await tenantql(['keys', 'encrypt-existing']);
    expect(conflict.code).toBe(1);
    expect(JSON.parse(conflict.stdout)).toMatchObject({
      encrypted: { 'app.members.email': 0 },
      conflicts: [{ tenant: 8, column: 'app.members.email', rows: 1 }],
    });
    expect(conflict.stderr).toContain(
      'tenantql keys encrypt-existing: tenant 8: 1 values of app.members.email stay in plaintext: another row has the same value; resolve and run again\n',
    );
    expect(await plaintextLeft()).toEqual(['poison@old.test']);

    await withClient(t.db.superuserUrl, (c) =>
      c.query("DELETE FROM app.members WHERE tenant_id = 8 AND name = 'Newcomer'"),
    );
    const finished = await tenantql(['keys', 'encrypt-existing']);
    expect(finished.code, finished.stderr).toBe(0);
    expect(JSON.parse(finished.stdout)).toMatchObject({
      encrypted: { 'app.members.email': 1 },
      conflicts: [],
    });
    expect(finished.stderr).toBe('tenantql keys encrypt-existing: tenant 8: 1 values encrypted\n');
    const nothing = await tenantql(['keys', 'encrypt-existing']);
    expect(JSON.parse(nothing.stdout)).toMatchObject({
      encrypted: { 'app.members.email': 0 },
      conflicts: [],
    });

    // Each value encrypted once (it reads back as it was), hashed, and unique from now on.
    expect(await plaintextLeft()).toEqual([]);
    expect(await emailsOf(8)).toEqual(legacy);
    for (const row of await storedMembers(8)) expect(row.email_hash).toHaveLength(32);
    const twin = await createMember(8, 'Twin', 'LEGACY.1@old.test');
    expect(twin.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});

describe('tenantql keys rotate-master with requests running', () => {
  it('no request fails; afterwards the new master key alone opens every key, the old one none', async () => {
    const newKey = randomBytes(32);
    // Many keys to walk, so the rotation takes a while: tenants of their own, never served.
    await withClient(t.db.keys.superuserUrl, async (c) => {
      const { wrapKey } = await import('../../src/crypto/key-wrap.js');
      const rows = Array.from({ length: 1500 }, (_, i) => {
        const wrapped = wrapKey(masterKey, 10_000 + i, randomBytes(32));
        return [10_000 + i, wrapped.wrapped, wrapped.masterId] as const;
      });
      await c.query(
        'INSERT INTO keys.data_keys (tenant_id, wrapped, master_id) SELECT * FROM unnest($1::int[], $2::bytea[], $3::text[])',
        [rows.map((r) => r[0]), rows.map((r) => r[1]), rows.map((r) => r[2])],
      );
    });
    // Servers during the rotation: both master keys set (their key caches start empty).
    const during: Config = { ...t.config, masterKeys: { current: masterKey, next: newKey, dev: false } };
    const peer = await startPeer(t, undefined, during);
    const failures: unknown[] = [];
    let requests = 0;
    let rotating = true;
    const load = async (worker: number) => {
      for (let n = 0; rotating; n++) {
        const tenantId = [2, 3, 4, 8][(worker + n) % 4]!;
        const host = HOSTS[tenantId]!;
        const token = await t.token(tenantId);
        const res =
          n % 5 === 0
            ? await peer.gql(
                host,
                'mutation($e: String!) { createMember(input: { name: "load", email: $e }) { email } }',
                {
                  token,
                  variables: { e: `load-${worker}-${n}@rotation.test` },
                },
              )
            : await peer.gql(host, MEMBERS, { token });
        requests++;
        if (res.status !== 200 || res.body.errors) failures.push(res.body.errors ?? res.status);
      }
    };
    const workers = [0, 1, 2, 3].map(load);
    const rotation = await tenantql(['keys', 'rotate-master'], {
      TENANT_MASTER_KEY_NEW: newKey.toString('base64'),
    });
    rotating = false;
    await Promise.all(workers);
    await peer.close();
    expect(rotation.code, rotation.stderr).toBe(0);
    expect(requests).toBeGreaterThan(20);
    console.info(`rotate-master under load: ${requests} requests, none failed`);
    expect(failures).toEqual([]);

    // After: the new key alone serves every tenant's emails; the old one alone opens nothing.
    const after = await startPeer(t, undefined, { ...t.config, masterKeys: { current: newKey, dev: false } });
    const stale = await startPeer(t, undefined, {
      ...t.config,
      masterKeys: { current: masterKey, dev: false },
    });
    try {
      for (const tenantId of [2, 3, 4, 8, 9]) {
        const token = await t.token(tenantId);
        const res = await after.gql(HOSTS[tenantId]!, MEMBERS, { token });
        expect(res.body.errors, `tenant ${tenantId}`).toBeUndefined();
        const old = await stale.gql(HOSTS[tenantId]!, MEMBERS, { token });
        if (res.body.data!.members.edges.length > 0)
          expect(old.body.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
      }
    } finally {
      await after.close();
      await stale.close();
    }
    await withClient(t.db.keys.superuserUrl, async (c) => {
      const { rows } = await c.query<{ wrapped: Buffer; tenant_id: number }>(
        'SELECT tenant_id, wrapped FROM keys.data_keys',
      );
      for (const row of rows) {
        expect(unwrapKey(newKey, row.tenant_id, row.wrapped)).toBeInstanceOf(Buffer);
        expect(unwrapKey(masterKey, row.tenant_id, row.wrapped)).toBeUndefined();
      }
    });
  });
});
