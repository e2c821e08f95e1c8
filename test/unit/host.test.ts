import { describe, expect, it } from 'vitest';
import { normalizeHost } from '../../src/tenancy/host.js';

describe('normalizeHost', () => {
  it.each([
    ['tenant1.localhost', 'tenant1.localhost'],
    ['tenant1.localhost:4000', 'tenant1.localhost'],
    ['TENANT1.LocalHost', 'tenant1.localhost'],
    ['tenant1.localhost.', 'tenant1.localhost'],
    ['tenant1.localhost.:4000', 'tenant1.localhost'],
    ['graphql.tenant-two.test:443', 'graphql.tenant-two.test'],
    // Well formed, so normalised; the tenant set then matches nothing for these.
    ['x.tenant1.localhost', 'x.tenant1.localhost'],
    ['tenant1.localhost.evil.test', 'tenant1.localhost.evil.test'],
    ['localhost:4000', 'localhost'],
    ['a:65535', 'a'],
    ['a:1', 'a'],
    // Leading zeros: the port's value (4000) is in range.
    ['tenant1.localhost:04000', 'tenant1.localhost'],
  ])('%j -> %j', (raw, host) => {
    expect(normalizeHost(raw)).toEqual({ ok: true, host });
  });

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['empty', ''],
    ['only a dot', '.'],
    ['only a port', ':4000'],
    ['empty port', 'tenant1.localhost:'],
    ['letters in the port', 'tenant1.localhost:abc'],
    ['six-digit port', 'tenant1.localhost:123456'],
    ['port 0', 'tenant1.localhost:0'],
    ['port 00000', 'tenant1.localhost:00000'],
    ['port 65536', 'tenant1.localhost:65536'],
    ['port 99999', 'tenant1.localhost:99999'],
    ['signed port', 'tenant1.localhost:+80'],
    ['empty label', 'a..b'],
    ['leading dot', '.tenant1.localhost'],
    ['two trailing dots', 'tenant1.localhost..'],
    ['underscore', 'tenant_1.localhost'],
    ['space', 'tenant1 .localhost'],
    ['at sign', 'user@tenant1.localhost'],
    ['slash', 'tenant1.localhost/x'],
    ['percent', 'tenant1%2elocalhost'],
    ['IPv6 literal', '[::1]:4000'],
    ['IPv6 literal without port', '[::1]'],
    ['two colons', 'a:1:2'],
    ['non-ASCII that lowercases to ASCII (Kelvin sign)', '\u212Aey.localhost'],
    ['over 253 characters', `${'a.'.repeat(126)}ab`],
  ])('rejects %s', (_label, raw) => {
    expect(normalizeHost(raw)).toEqual({ ok: false });
  });

  it('accepts exactly 253 characters, with a trailing dot and port', () => {
    const host = `${'a.'.repeat(126)}a`;
    expect(host).toHaveLength(253);
    expect(normalizeHost(`${host}.:65535`)).toEqual({ ok: true, host });
  });

  it('stays fast on long hostile input', () => {
    const hostile = `${'a'.repeat(1_000_000)}!`;
    const started = performance.now();
    for (let i = 0; i < 1000; i++) normalizeHost(hostile);
    expect(performance.now() - started).toBeLessThan(100);
  });
});
