import { describe, expect, it } from 'vitest';
import { hbaLines, isHbaAddress } from '../../src/tiers/hba.js';

const tenants = [
  { id: 12, subdomain: 'globex', isolation: 'database' },
  { id: 1, subdomain: 'admin', isolation: 'shared' },
  { id: 3, subdomain: 'shared-one', isolation: 'shared' },
  { id: 5, subdomain: 'acme', isolation: 'database' },
] as const;

/** The lines after the header comment, which the header's own tests cover. */
const body = (text: string) => text.slice(text.indexOf('# TYPE'));
const rules = (text: string) => text.split('\n').filter((line) => line && !line.startsWith('#'));

describe('hbaLines', () => {
  it('rejects the tenants on the shared database, then allows each database its group, by id', () => {
    expect(
      body(hbaLines({ mainDatabase: 'app', tenants })),
    ).toBe(`# TYPE  DATABASE  USER                   ADDRESS  METHOD

# shared database app: no dedicated tenant's login roles
host    app       app_t5_rw,app_t5_ro    all      reject
host    app       app_t12_rw,app_t12_ro  all      reject

# tenant 5 (acme)
host    app_t5    +app_t5_connect        all      scram-sha-256
host    app_t5    all                    all      reject

# tenant 12 (globex)
host    app_t12   +app_t12_connect       all      scram-sha-256
host    app_t12   all                    all      reject
`);
  });

  it('lines every column up, the column names included', () => {
    const lines = body(hbaLines({ mainDatabase: 'a_much_longer_name', tenants })).split('\n');
    const columns = lines.filter((line) => line.startsWith('host') || line.startsWith('# TYPE'));
    const starts = (line: string) => [...line.matchAll(/(?<= )\S/g)].map((match) => match.index);
    // `# TYPE` has a blank inside its first cell.
    expect(starts(columns[0]!).slice(1)).toEqual(starts(columns[1]!));
    for (const line of columns.slice(1)) expect(starts(line)).toEqual(starts(columns[1]!));
    for (const line of lines) expect(line).toBe(line.trimEnd());
  });

  it('gives shared tenants nothing', () => {
    const text = hbaLines({ mainDatabase: 'app', tenants });
    expect(text).not.toMatch(/app_t1\b|app_t3\b|admin|shared-one/);
    expect(rules(text)).toHaveLength(2 + 2 * 2);
  });

  it('says there is nothing to add when no tenant has a database of its own', () => {
    const text = hbaLines({ mainDatabase: 'app', tenants: tenants.filter((t) => t.isolation === 'shared') });
    expect(text).toMatch(/^# .*nothing to add to pg_hba\.conf\.\n$/);
    expect(rules(text)).toEqual([]);
  });

  it('puts a custom address and method on the allow lines only: the rejects hold from anywhere', () => {
    const text = hbaLines({ mainDatabase: 'app', tenants, address: '10.0.0.0/8', method: 'md5' });
    const fields = rules(text).map((line) => line.split(/\s+/));
    expect(fields.filter((f) => f[4] !== 'reject').map((f) => [f[1], f[3], f[4]])).toEqual([
      ['app_t5', '10.0.0.0/8', 'md5'],
      ['app_t12', '10.0.0.0/8', 'md5'],
    ]);
    expect(fields.filter((f) => f[4] === 'reject').every((f) => f[3] === 'all')).toBe(true);
  });

  it('defaults to every address and scram-sha-256', () => {
    const allow = rules(hbaLines({ mainDatabase: 'app', tenants })).filter((line) => line.includes('+'));
    expect(allow.map((line) => line.split(/\s+/).slice(3))).toEqual([
      ['all', 'scram-sha-256'],
      ['all', 'scram-sha-256'],
    ]);
  });

  it('tells where to put the lines and how to load them', () => {
    const header = hbaLines({ mainDatabase: 'app', tenants }).split('# TYPE')[0]!;
    expect(header).toMatch(/first matching line wins/);
    expect(header).toMatch(/before any broader host line/);
    expect(header).toMatch(/SELECT pg_reload_conf\(\);/);
    expect(header.split('\n').every((line) => line === '' || line.startsWith('#'))).toBe(true);
  });

  it('quotes a shared database name pg_hba.conf would read as a keyword', () => {
    expect(rules(hbaLines({ mainDatabase: 'all', tenants }))[0]).toMatch(
      /^host +"all" +all_t5_rw,all_t5_ro /,
    );
  });

  it('refuses names pg_hba.conf cannot hold as a group, and bad addresses', () => {
    expect(() => hbaLines({ mainDatabase: 'my app', tenants })).toThrow(RangeError);
    expect(() => hbaLines({ mainDatabase: 'app', tenants, address: '10.0.0.1' })).toThrow(TypeError);
    expect(() => hbaLines({ mainDatabase: 'app', tenants, method: 'trust # x' })).toThrow(TypeError);
  });
});

describe('isHbaAddress', () => {
  it.each([
    ['all', true],
    ['samehost', true],
    ['samenet', true],
    ['10.0.0.0/8', true],
    ['127.0.0.1/32', true],
    ['0.0.0.0/0', true],
    ['fd00::/8', true],
    ['::1/128', true],
    ['10.0.0.1', false],
    ['10.0.0.0/33', false],
    ['::1/129', false],
    ['10.0.0/8', false],
    ['fe80::1%eth0/64', false],
    ['db.example.com', false],
    ['10.0.0.0/8/8', false],
    ['', false],
    ['ALL', false],
  ])('%j: %s', (value, valid) => {
    expect(isHbaAddress(value)).toBe(valid);
  });
});
