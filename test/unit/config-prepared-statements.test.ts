import { describe, expect, it } from 'vitest';
import { readConfig } from '../../src/config.js';

// PG_PREPARED_STATEMENTS (issue 11 item 16): on unless turned off, and nothing else accepted.
describe('PG_PREPARED_STATEMENTS', () => {
  const read = (value?: string) => readConfig(value === undefined ? {} : { PG_PREPARED_STATEMENTS: value });

  it.each([
    [undefined, true],
    ['1', true],
    ['true', true],
    ['0', false],
    ['false', false],
  ])('%j → %j', (value, expected) => {
    const result = read(value);
    if (!result.ok) throw new Error(result.problems.join('; '));
    expect(result.config.preparedStatements).toBe(expected);
  });

  it('anything else is a configuration problem naming the setting', () => {
    const result = read('off');
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problems).toEqual([expect.stringMatching(/^PG_PREPARED_STATEMENTS: /)]);
  });
});
