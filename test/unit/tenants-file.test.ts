import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ParseResult,
  parseTenantsFile,
  readTenantsFile,
  tenantKind,
  tenantsFileReader,
} from '../../src/tenancy/tenants-file.js';

type Json = Record<string, unknown>;

/** A valid file with one tenant of each kind; each case below breaks it in one place. */
const validFile = (): Json => ({
  baseDomain: 'localhost',
  tenants: [
    { id: 1, subdomain: 'admin', name: 'System' },
    { id: 2, subdomain: 'tenant1', name: 'Tenant One' },
    { id: 3, subdomain: 'tenant2', name: 'Tenant Two', domains: ['graphql.tenant-two.test'] },
    { id: 81, subdomain: 'reports', name: 'Reports', grants: [2, 3] },
  ],
});
const tenant = (file: Json, i: number) => (file.tenants as Json[])[i]!;

function problemsFor(edit: (file: Json) => void): string[] {
  const file = validFile();
  edit(file);
  const result = parseTenantsFile(JSON.stringify(file));
  if (result.ok) throw new Error('expected the file to be rejected');
  return result.problems;
}
const pathOf = (problem: string) => problem.slice(0, problem.indexOf(': '));

/** Each case breaks the valid file in one place; the path its problem is reported at. */
const BREAKS: [string, (file: Json) => void, string][] = [
  ['unknown top-level key', (f) => Object.assign(f, { extra: 1 }), 'extra'],
  ['unknown key in defaults', (f) => Object.assign(f, { defaults: { timeout: 1 } }), 'defaults.timeout'],
  [
    'unknown key in defaults.rateLimit',
    (f) => Object.assign(f, { defaults: { rateLimit: { requests: 1, perSeconds: 1, burst: 2 } } }),
    'defaults.rateLimit.burst',
  ],
  ['unknown key in a tenant', (f) => Object.assign(tenant(f, 1), { plan: 'gold' }), 'tenants[1].plan'],
  [
    'unknown key in a tenant rateLimit',
    (f) => Object.assign(tenant(f, 1), { rateLimit: { requests: 1, perSeconds: 1, burst: 2 } }),
    'tenants[1].rateLimit.burst',
  ],
  ['baseDomain missing', (f) => delete f.baseDomain, 'baseDomain'],
  ['baseDomain uppercase', (f) => Object.assign(f, { baseDomain: 'Localhost' }), 'baseDomain'],
  ['baseDomain empty label', (f) => Object.assign(f, { baseDomain: 'a..test' }), 'baseDomain'],
  ['baseDomain leading hyphen', (f) => Object.assign(f, { baseDomain: '-a.test' }), 'baseDomain'],
  ['baseDomain underscore', (f) => Object.assign(f, { baseDomain: 'a_b.test' }), 'baseDomain'],
  [
    'baseDomain 64-char label',
    (f) => Object.assign(f, { baseDomain: `${'a'.repeat(64)}.test` }),
    'baseDomain',
  ],
  ['baseDomain a number', (f) => Object.assign(f, { baseDomain: 5 }), 'baseDomain'],
  ['tenants missing', (f) => delete f.tenants, 'tenants'],
  ['tenants empty', (f) => Object.assign(f, { tenants: [] }), 'tenants'],
  ['tenants an object', (f) => Object.assign(f, { tenants: {} }), 'tenants'],
  ['tenant not an object', (f) => (f.tenants as unknown[]).push('acme'), 'tenants[4]'],
  ['id missing', (f) => delete tenant(f, 1).id, 'tenants[1].id'],
  ['id a string', (f) => Object.assign(tenant(f, 1), { id: '2' }), 'tenants[1].id'],
  ['id a fraction', (f) => Object.assign(tenant(f, 1), { id: 2.5 }), 'tenants[1].id'],
  ['id zero', (f) => Object.assign(tenant(f, 1), { id: 0 }), 'tenants[1].id'],
  ['id too large', (f) => Object.assign(tenant(f, 1), { id: 2_147_483_648 }), 'tenants[1].id'],
  [
    'duplicate id',
    (f) => (f.tenants as Json[]).push({ id: 2, subdomain: 'again', name: 'Again' }),
    'tenants[4].id',
  ],
  [
    'second system tenant',
    (f) => (f.tenants as Json[]).push({ id: 1, subdomain: 'admin2', name: 'System 2' }),
    'tenants[4].id',
  ],
  ['subdomain missing', (f) => delete tenant(f, 1).subdomain, 'tenants[1].subdomain'],
  ['subdomain empty', (f) => Object.assign(tenant(f, 1), { subdomain: '' }), 'tenants[1].subdomain'],
  [
    'subdomain uppercase',
    (f) => Object.assign(tenant(f, 1), { subdomain: 'Tenant1' }),
    'tenants[1].subdomain',
  ],
  ['subdomain with a dot', (f) => Object.assign(tenant(f, 1), { subdomain: 'a.b' }), 'tenants[1].subdomain'],
  [
    'subdomain trailing hyphen',
    (f) => Object.assign(tenant(f, 1), { subdomain: 'a-' }),
    'tenants[1].subdomain',
  ],
  [
    'subdomain 64 chars',
    (f) => Object.assign(tenant(f, 1), { subdomain: 'a'.repeat(64) }),
    'tenants[1].subdomain',
  ],
  [
    'duplicate subdomain',
    (f) => Object.assign(tenant(f, 2), { subdomain: 'tenant1' }),
    'tenants[2].subdomain',
  ],
  ['name missing', (f) => delete tenant(f, 1).name, 'tenants[1].name'],
  ['name empty', (f) => Object.assign(tenant(f, 1), { name: '' }), 'tenants[1].name'],
  ['domains not an array', (f) => Object.assign(tenant(f, 1), { domains: 'a.test' }), 'tenants[1].domains'],
  ['domain uppercase', (f) => Object.assign(tenant(f, 1), { domains: ['A.test'] }), 'tenants[1].domains[0]'],
  [
    'domain used by two tenants',
    (f) =>
      (f.tenants as Json[]).push({
        id: 4,
        subdomain: 't4',
        name: 'T4',
        domains: ['graphql.tenant-two.test'],
      }),
    'tenants[4].domains[0]',
  ],
  [
    'domain listed twice by one tenant',
    (f) => Object.assign(tenant(f, 1), { domains: ['a.test', 'a.test'] }),
    'tenants[1].domains[1]',
  ],
  [
    "domain equal to another tenant's subdomain host",
    (f) => Object.assign(tenant(f, 1), { domains: ['tenant2.localhost'] }),
    'tenants[1].domains[0]',
  ],
  [
    'domain equal to the bare base domain',
    (f) => Object.assign(tenant(f, 1), { domains: ['localhost'] }),
    'tenants[1].domains[0]',
  ],
  ['grants on a regular tenant', (f) => Object.assign(tenant(f, 1), { grants: [3] }), 'tenants[1].grants'],
  ['grants on the system tenant', (f) => Object.assign(tenant(f, 0), { grants: '*' }), 'tenants[0].grants'],
  ['grants a bad string', (f) => Object.assign(tenant(f, 3), { grants: 'all' }), 'tenants[3].grants'],
  ['grant id a string', (f) => Object.assign(tenant(f, 3), { grants: [2, '3'] }), 'tenants[3].grants[1]'],
  [
    'grant to an unknown tenant',
    (f) => Object.assign(tenant(f, 3), { grants: [2, 7] }),
    'tenants[3].grants[1]',
  ],
  ['grant to the system tenant', (f) => Object.assign(tenant(f, 3), { grants: [1] }), 'tenants[3].grants[0]'],
  ['grant to a virtual tenant', (f) => Object.assign(tenant(f, 3), { grants: [81] }), 'tenants[3].grants[0]'],
  ['grant listed twice', (f) => Object.assign(tenant(f, 3), { grants: [2, 2] }), 'tenants[3].grants[1]'],
  [
    'statementTimeoutMs zero',
    (f) => Object.assign(tenant(f, 1), { statementTimeoutMs: 0 }),
    'tenants[1].statementTimeoutMs',
  ],
  [
    'statementTimeoutMs over an hour',
    (f) => Object.assign(tenant(f, 1), { statementTimeoutMs: 3_600_001 }),
    'tenants[1].statementTimeoutMs',
  ],
  [
    'statementTimeoutMs a string',
    (f) => Object.assign(tenant(f, 1), { statementTimeoutMs: '100' }),
    'tenants[1].statementTimeoutMs',
  ],
  [
    'defaults.statementTimeoutMs fraction',
    (f) => Object.assign(f, { defaults: { statementTimeoutMs: 1.5 } }),
    'defaults.statementTimeoutMs',
  ],
  ['rateLimit not an object', (f) => Object.assign(tenant(f, 1), { rateLimit: 5 }), 'tenants[1].rateLimit'],
  [
    'rateLimit.requests zero',
    (f) => Object.assign(tenant(f, 1), { rateLimit: { requests: 0, perSeconds: 1 } }),
    'tenants[1].rateLimit.requests',
  ],
  [
    'rateLimit.perSeconds missing',
    (f) => Object.assign(tenant(f, 1), { rateLimit: { requests: 1 } }),
    'tenants[1].rateLimit.perSeconds',
  ],
  [
    'defaults.rateLimit.perSeconds fraction',
    (f) => Object.assign(f, { defaults: { rateLimit: { requests: 1, perSeconds: 0.5 } } }),
    'defaults.rateLimit.perSeconds',
  ],
  ['disabled a string', (f) => Object.assign(tenant(f, 1), { disabled: 'yes' }), 'tenants[1].disabled'],
  ['defaults not an object', (f) => Object.assign(f, { defaults: [] }), 'defaults'],
];

describe('parseTenantsFile: each rule reports its JSON path', () => {
  it.each(BREAKS)('%s', (_label, edit, path) => {
    const problems = problemsFor(edit);
    expect(problems.map(pathOf)).toEqual([path]);
  });

  it.each([
    ['empty text', ''],
    ['only whitespace', ' \n'],
    ['invalid JSON', '{'],
    ['half-written', '{"baseDomain":"localhost","tenants":[{"id":2,'],
    ['an array', '[]'],
    ['null', 'null'],
  ])('rejects %s at (root)', (_label, text) => {
    const result = parseTenantsFile(text);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems.map(pathOf)).toEqual(['(root)']);
  });

  it('words problems as `<json path>: <message>`', () => {
    expect(problemsFor((f) => Object.assign(tenant(f, 0), { id: 0 }))).toEqual([
      'tenants[0].id: must be an integer from 1 to 2147483647',
    ]);
    expect(problemsFor((f) => Object.assign(tenant(f, 2), { subdomain: 'tenant1' }))).toEqual([
      'tenants[2].subdomain: duplicate "tenant1"',
    ]);
    expect(problemsFor((f) => delete tenant(f, 1).name)).toEqual(['tenants[1].name: is required']);
    expect(problemsFor((f) => Object.assign(f, { 'a b': 1 }))).toEqual(['["a b"]: unknown key']);
  });

  it('reports every problem, including cross-tenant ones next to shape errors', () => {
    const problems = problemsFor((f) => {
      Object.assign(f, { extra: true });
      Object.assign(tenant(f, 1), { name: '', statementTimeoutMs: -1 });
      Object.assign(tenant(f, 2), { subdomain: 'tenant1', name: 7 });
      Object.assign(tenant(f, 3), { grants: [9] });
    });
    expect(problems.map(pathOf).sort()).toEqual(
      [
        'extra',
        'tenants[1].name',
        'tenants[1].statementTimeoutMs',
        'tenants[2].name',
        'tenants[2].subdomain',
        'tenants[3].grants[0]',
      ].sort(),
    );
  });
});

describe('parseTenantsFile: the config it returns', () => {
  it('applies built-in defaults, file defaults and per-tenant overrides', () => {
    const built = parseTenantsFile(JSON.stringify(validFile()));
    if (!built.ok) throw new Error(built.problems.join('\n'));
    expect(built.config.tenants[1]).toEqual({
      id: 2,
      subdomain: 'tenant1',
      name: 'Tenant One',
      kind: 'regular',
      domains: [],
      disabled: false,
      statementTimeoutMs: 5000,
      rateLimit: { requests: 600, perSeconds: 60 },
      grants: [],
      isolation: 'shared',
      externalIds: [],
    });

    const file = validFile();
    Object.assign(file, {
      defaults: { statementTimeoutMs: 2000, rateLimit: { requests: 10, perSeconds: 1 } },
    });
    Object.assign(tenant(file, 2), { statementTimeoutMs: 100, rateLimit: { requests: 5, perSeconds: 2 } });
    const result = parseTenantsFile(JSON.stringify(file));
    if (!result.ok) throw new Error(result.problems.join('\n'));
    const [system, one, two, reports] = result.config.tenants;
    expect(one).toMatchObject({ statementTimeoutMs: 2000, rateLimit: { requests: 10, perSeconds: 1 } });
    expect(two).toMatchObject({ statementTimeoutMs: 100, rateLimit: { requests: 5, perSeconds: 2 } });
    expect(system?.kind).toBe('system');
    expect(reports).toMatchObject({ kind: 'virtual', grants: [2, 3] });
  });

  it('returns a deep-frozen config', () => {
    const result = parseTenantsFile(JSON.stringify(validFile()));
    if (!result.ok) throw new Error(result.problems.join('\n'));
    const { config } = result;
    const two = config.tenants[2]!;
    for (const value of [
      config,
      config.tenants,
      two,
      two.domains,
      two.rateLimit,
      two.grants,
      two.externalIds,
    ]) {
      expect(Object.isFrozen(value)).toBe(true);
    }
  });

  it('accepts grants "*" on a virtual tenant', () => {
    const file = validFile();
    Object.assign(tenant(file, 3), { grants: '*' });
    const result = parseTenantsFile(JSON.stringify(file));
    expect(result.ok && result.config.tenants[3]?.grants).toBe('*');
  });

  it('parses tenants.example.json', async () => {
    const text = await readFile(new URL('../../tenants.example.json', import.meta.url), 'utf8');
    const result = parseTenantsFile(text);
    if (!result.ok) throw new Error(result.problems.join('\n'));
    expect(result.config.tenants.map((t) => [t.id, t.subdomain, t.kind])).toEqual([
      [1, 'admin', 'system'],
      [2, 'tenant1', 'regular'],
      [3, 'tenant2', 'regular'],
      [81, 'reports', 'virtual'],
      [100, 'acme', 'regular'],
    ]);
    expect(result.config.tenants[4]?.disabled).toBe(true);
  });
});

describe('readTenantsFile and tenantKind', () => {
  it('names the path of a file it cannot read', async () => {
    const result = await readTenantsFile('/nonexistent/tenants.json');
    expect(result).toEqual({ ok: false, problems: [expect.stringContaining('/nonexistent/tenants.json: ')] });
  });

  it.each([
    [1, 'system'],
    [2, 'regular'],
    [79, 'regular'],
    [80, 'virtual'],
    [99, 'virtual'],
    [100, 'regular'],
  ] as const)('tenantKind(%i) is %s', (id, kind) => {
    expect(tenantKind(id)).toBe(kind);
  });
});

describe('parseTenantsFile: isolation (SPEC §10)', () => {
  const withTenant = (extra: object) => {
    const file = validFile();
    (file.tenants as object[]).push({ id: 42, subdomain: 'vault', name: 'Vault', ...extra });
    return parseTenantsFile(JSON.stringify(file));
  };

  it('is shared by default, and database when asked for', () => {
    const shared = withTenant({});
    const dedicated = withTenant({ isolation: 'database' });
    if (!shared.ok || !dedicated.ok) throw new Error('expected valid files');
    expect(shared.config.tenants.find((t) => t.id === 42)?.isolation).toBe('shared');
    expect(dedicated.config.tenants.find((t) => t.id === 42)?.isolation).toBe('database');
  });

  it('takes only "shared" or "database"', () => {
    for (const value of ['Database', 'dedicated', true, 1, null]) {
      const result = withTenant({ isolation: value });
      expect(result.ok).toBe(false);
      if (!result.ok)
        expect(result.problems).toContain('tenants[4].isolation: must be "shared" or "database"');
    }
  });

  it('is an error on the system and virtual tenants, even as "shared"', () => {
    const file = validFile();
    const tenants = file.tenants as Record<string, unknown>[];
    for (const tenant of tenants) if (tenant.id === 1 || tenant.id === 81) tenant.isolation = 'shared';
    const result = parseTenantsFile(JSON.stringify(file));
    expect(result.ok).toBe(false);
    if (!result.ok) {
      const at = (id: number) => `tenants[${tenants.findIndex((t) => t.id === id)}].isolation`;
      expect(result.problems).toEqual([
        `${at(1)}: only regular tenants may have a database of their own`,
        `${at(81)}: only regular tenants may have a database of their own`,
      ]);
    }
  });
});

describe('parseTenantsFile: externalIds (SPEC §6)', () => {
  /** The valid file with these externalIds on tenants 1 (tenant1) and 2 (tenant2). */
  const withIds = (one: unknown, two?: unknown) =>
    parseTenantsFile(
      JSON.stringify({
        ...validFile(),
        tenants: (validFile().tenants as Json[]).map((t, i) =>
          i === 1 && one !== undefined
            ? { ...t, externalIds: one }
            : i === 2 && two !== undefined
              ? { ...t, externalIds: two }
              : t,
        ),
      }),
    );
  const problemsOf = (result: ReturnType<typeof parseTenantsFile>) => (result.ok ? [] : result.problems);

  it('are kept in order, frozen, and [] when absent', () => {
    const result = withIds(['org_W30QP3gBEr2Mn9kS', '263154236541781250', 'tenant-2', '02']);
    if (!result.ok) throw new Error(result.problems.join('\n'));
    const [, one, two] = result.config.tenants;
    expect(one?.externalIds).toEqual(['org_W30QP3gBEr2Mn9kS', '263154236541781250', 'tenant-2', '02']);
    expect(Object.isFrozen(one?.externalIds)).toBe(true);
    expect(two?.externalIds).toEqual([]);
  });

  it.each<[string, unknown, string]>([
    ['a string', 'org_a', 'tenants[1].externalIds: must be an array of strings'],
    ['an object', { id: 'org_a' }, 'tenants[1].externalIds: must be an array of strings'],
    ['null', null, 'tenants[1].externalIds: must be an array of strings'],
    [
      'a number in the list',
      ['org_a', 42],
      'tenants[1].externalIds[1]: must be a non-empty string of at most 255 characters, without control characters',
    ],
    [
      'an empty string',
      [''],
      'tenants[1].externalIds[0]: must be a non-empty string of at most 255 characters, without control characters',
    ],
    [
      'a control character',
      ['org_a\n'],
      'tenants[1].externalIds[0]: must be a non-empty string of at most 255 characters, without control characters',
    ],
    [
      '256 characters',
      ['x'.repeat(256)],
      'tenants[1].externalIds[0]: must be a non-empty string of at most 255 characters, without control characters',
    ],
    [
      'a tenant id as a string',
      ['3'],
      'tenants[1].externalIds[0]: must not be a tenant id (a token holding it names that tenant by id)',
    ],
    [
      'the same id twice in one tenant',
      ['org_a', 'org_a'],
      'tenants[1].externalIds[1]: duplicate "org_a" (first in tenants[1])',
    ],
  ])('refuses %s, one line naming its path', (_label, value, problem) => {
    expect(problemsOf(withIds(value))).toEqual([problem]);
  });

  it('must be unique across the whole file', () => {
    expect(problemsOf(withIds(['org_a', 'org_b'], ['org_c', 'org_b']))).toEqual([
      'tenants[2].externalIds[1]: duplicate "org_b" (first in tenants[1])',
    ]);
  });

  it('are an error on a virtual tenant (its service tokens name its id), even empty', () => {
    const file = validFile();
    Object.assign(tenant(file, 3), { externalIds: [] });
    expect(problemsOf(parseTenantsFile(JSON.stringify(file)))).toEqual([
      'tenants[3].externalIds: virtual tenants have none (their service tokens name their id)',
    ]);
  });

  it('are reported next to every other problem of the file', () => {
    const file = validFile();
    Object.assign(tenant(file, 1), { externalIds: ['org_a', 7], name: '' });
    Object.assign(tenant(file, 2), { externalIds: ['org_a'], subdomain: 'tenant1' });
    expect(
      problemsOf(parseTenantsFile(JSON.stringify(file)))
        .map(pathOf)
        .sort(),
    ).toEqual(
      [
        'tenants[1].externalIds[1]',
        'tenants[1].name',
        'tenants[2].externalIds[0]',
        'tenants[2].subdomain',
      ].sort(),
    );
  });
});

describe('tenantsFileReader: each read as readTenantsFile reads it, unchanged entries not built again', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tenantql-reader-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  /** The reader's result and readTenantsFile's for the same text, which must be equal. */
  async function both(read: (path: string) => Promise<ParseResult>, file: Json | string) {
    const path = join(dir, 'tenants.json');
    await writeFile(path, typeof file === 'string' ? file : JSON.stringify(file));
    const [reader, whole] = [await read(path), await readTenantsFile(path)];
    expect(reader).toEqual(whole);
    return reader;
  }
  const tenantsOf = (result: ParseResult) => {
    if (!result.ok) throw new Error(result.problems.join('\n'));
    return result.config.tenants;
  };

  it('keeps the Tenant of every entry that did not change, builds the one that did', async () => {
    const read = tenantsFileReader();
    const file = validFile();
    const first = tenantsOf(await both(read, file));
    Object.assign(tenant(file, 2), { name: 'Tenant Two, renamed' });
    const second = tenantsOf(await both(read, file));
    expect(second.map((t, i) => t === first[i])).toEqual([true, true, false, true]);
    expect(second[2]!.name).toBe('Tenant Two, renamed');
    // An entry added before the others shifts them: still found by id.
    (file.tenants as Json[]).unshift({ id: 4, subdomain: 'tenant3', name: 'Tenant Three' });
    const third = tenantsOf(await both(read, file));
    expect(third.slice(1)).toEqual(second);
    expect(third.slice(1).every((t, i) => t === second[i])).toBe(true);
  });

  it('builds every tenant again when the defaults or the base domain change', async () => {
    const read = tenantsFileReader();
    const file = validFile();
    const first = tenantsOf(await both(read, file));
    Object.assign(file, { defaults: { statementTimeoutMs: 1234 } });
    const second = tenantsOf(await both(read, file));
    expect(second.some((t, i) => t === first[i])).toBe(false);
    expect(second.every((t) => t.statementTimeoutMs === 1234)).toBe(true);
    Object.assign(file, { baseDomain: 'example.test' });
    expect((await both(read, file)).ok).toBe(true);
  });

  it.each(BREAKS)('after a valid read, a file with %s has the same problems', async (_label, edit) => {
    const read = tenantsFileReader();
    await both(read, validFile());
    const broken = validFile();
    edit(broken);
    expect((await both(read, broken)).ok).toBe(false);
    // The last valid read is still what unchanged entries are compared with.
    expect(tenantsOf(await both(read, validFile()))).toHaveLength(4);
  });

  it('a text that is not a file of tenants, and a file that cannot be read', async () => {
    const read = tenantsFileReader();
    await both(read, validFile());
    for (const text of ['', '{', '[]', 'null', '{"baseDomain":"localhost","tenants":[]}']) {
      expect((await both(read, text)).ok).toBe(false);
    }
    const missing = await read(join(dir, 'missing.json'));
    expect(missing).toEqual(await readTenantsFile(join(dir, 'missing.json')));
  });

  it('any sequence of edits: every read equals readTenantsFile', async () => {
    const edit = fc.oneof(
      fc.record({ kind: fc.constant('rename' as const), at: fc.nat(), name: fc.string({ maxLength: 4 }) }),
      fc.record({
        kind: fc.constant('subdomain' as const),
        at: fc.nat(),
        to: fc.constantFrom('tenant1', 'x', 'Bad'),
      }),
      fc.record({ kind: fc.constant('timeout' as const), at: fc.nat(), ms: fc.integer({ min: -1, max: 9 }) }),
      fc.record({ kind: fc.constant('add' as const), id: fc.integer({ min: 2, max: 12 }) }),
      fc.record({ kind: fc.constant('remove' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('move' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('defaults' as const), ms: fc.integer({ min: 1, max: 3 }) }),
      fc.record({ kind: fc.constant('grant' as const), id: fc.integer({ min: 1, max: 12 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(edit, { maxLength: 12 }), async (edits) => {
        const read = tenantsFileReader();
        const file = validFile();
        const list = file.tenants as Json[];
        await both(read, file);
        for (const e of edits) {
          const at = 'at' in e ? e.at % list.length : 0;
          if (e.kind === 'rename') list[at]!.name = e.name;
          if (e.kind === 'subdomain') list[at]!.subdomain = e.to;
          if (e.kind === 'timeout') list[at]!.statementTimeoutMs = e.ms;
          if (e.kind === 'add') list.push({ id: e.id, subdomain: `t${e.id}`, name: `T${e.id}` });
          if (e.kind === 'remove' && list.length > 1) list.splice(at, 1);
          if (e.kind === 'move') list.push(...list.splice(at, 1));
          if (e.kind === 'defaults') file.defaults = { statementTimeoutMs: e.ms };
          if (e.kind === 'grant') {
            const peer = list.find((t) => t.id === 81);
            if (peer) peer.grants = [e.id];
          }
          await both(read, structuredClone(file));
        }
      }),
      { numRuns: 60 },
    );
  });
});
