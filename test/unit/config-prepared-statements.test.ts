import { describe, expect, it } from 'vitest';
import { readConfig } from '../../src/config.js';

// PG_PREPARED_STATEMENTS (issue 11 item 16) and FAST_PATH (issue 17): on unless turned off, and
// nothing else accepted.
describe.each([
  ['PG_PREPARED_STATEMENTS', 'preparedStatements'],
  ['FAST_PATH', 'fastPath'],
] as const)('%s', (name, key) => {
  const read = (value?: string) => readConfig(value === undefined ? {} : { [name]: value });

  it.each([
    [undefined, true],
    ['1', true],
    ['true', true],
    ['0', false],
    ['false', false],
  ])('%j → %j', (value, expected) => {
    const result = read(value);
    if (!result.ok) throw new Error(result.problems.join('; '));
    expect(result.config[key]).toBe(expected);
  });

  it('anything else is a configuration problem naming the setting', () => {
    const result = read('off');
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problems).toEqual([expect.stringMatching(new RegExp(`^${name}: `))]);
  });
});
