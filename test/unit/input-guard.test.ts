import { describe, expect, it } from 'vitest';
import { nestedDeeperThan } from '../../src/pipeline/plugins/use-input-guard.js';

describe('nestedDeeperThan', () => {
  it.each([
    ['{ a }', 1],
    ['{ a { b(x: [1, [2]]) } }', 5],
    ['{ a(x: {y: [{z: 1}]}) }', 5],
    ['query($v: [[Int]]) { a }', 3],
    ['{ a }}}}} ((( ', 3], // unbalanced: left to the parser
  ])('%j nests %i deep', (text, depth) => {
    expect(nestedDeeperThan(text, depth)).toBe(false);
    expect(nestedDeeperThan(text, depth - 1)).toBe(true);
  });

  it.each([
    ['a string', '{ a(x: "[[[[[[") }'],
    ['an escaped quote in a string', '{ a(x: "\\"[[[[[[") }'],
    ['an escaped backslash before the closing quote', '{ a(x: "\\\\") b(y: "[[[[[[") }'],
    ['a block string', '{ a(x: """ [[[[[[ " "" """) }'],
    ['an escaped triple quote in a block string', '{ a(x: """ \\""" [[[[[[ """) }'],
    ['a comment', '{ a # [[[[[[\n }'],
    ['a comment ended by CR', '{ a # [[[[[[\r b }'],
  ])('brackets in %s do not count', (_name, text) => {
    expect(nestedDeeperThan(text, 2)).toBe(false);
  });

  it('a string ends at its line: an unterminated one does not hide what follows', () => {
    expect(nestedDeeperThan('{ a(x: "open\n [[[[[[ ]]]]]] ) }', 2)).toBe(true);
  });

  it('is linear: 5 MB of hostile text in well under a second', () => {
    const hostile = `${'"\\"'.repeat(500_000)}${'# x\n'.repeat(500_000)}${'[]'.repeat(500_000)}`;
    const started = performance.now();
    expect(nestedDeeperThan(hostile, 64)).toBe(false);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
