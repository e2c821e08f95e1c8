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

// FAST_PATH_CONCURRENCY (issue 17, the tail): the pool unless set; a whole number up to the pool.
describe('FAST_PATH_CONCURRENCY', () => {
  const read = (env: Record<string, string>) => readConfig(env);

  it.each([
    [{}, 10],
    [{ FAST_PATH_CONCURRENCY: '' }, 10],
    [{ FAST_PATH_CONCURRENCY: '3' }, 3],
    [{ PG_POOL_MAX: '4' }, 4],
    [{ PG_POOL_MAX: '4', FAST_PATH_CONCURRENCY: '4' }, 4],
  ])('%j → %j', (env, expected) => {
    const result = read(env);
    if (!result.ok) throw new Error(result.problems.join('; '));
    expect(result.config.fastPathConcurrency).toBe(expected);
  });

  it.each([['0'], ['2.5'], ['many'], ['11']])('%j is a configuration problem naming the setting', (value) => {
    const result = read({ FAST_PATH_CONCURRENCY: value });
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problems).toEqual([expect.stringMatching(/^FAST_PATH_CONCURRENCY: /)]);
  });
});
