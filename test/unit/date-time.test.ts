import { describe, expect, it } from 'vitest';
import { serializeDateTime } from '../../src/graphql/date-time.js';

// The serving pool leaves timestamptz as PostgreSQL's text (db/pool.ts); the DateTime scalar
// must turn it into the same ISO-8601 UTC string a Date gave before: milliseconds, `Z`.
describe('DateTime serialize', () => {
  it.each([
    ['2026-11-23 12:36:03.123456+00', '2026-11-23T12:36:03.123Z'],
    ['2026-11-23 12:36:03.9999996+00', '2026-11-23T12:36:03.999Z'],
    ['2026-11-23 12:36:03+00', '2026-11-23T12:36:03.000Z'],
    ['2026-11-23 13:36:03.12+01', '2026-11-23T12:36:03.120Z'],
    ['2026-11-23 07:06:03.5+05:30', '2026-11-23T01:36:03.500Z'],
    ['1999-01-08 04:05:06.000789-08', '1999-01-08T12:05:06.000Z'],
  ])('PostgreSQL text %s -> %s', (text, iso) => {
    expect(serializeDateTime(text)).toBe(iso);
  });

  it('a Date as before', () => {
    expect(serializeDateTime(new Date(Date.UTC(2026, 10, 23, 12, 36, 3, 7)))).toBe(
      '2026-11-23T12:36:03.007Z',
    );
  });

  it('refuses what is not a timestamp', () => {
    expect(() => serializeDateTime('yesterday')).toThrow(TypeError);
  });
});
