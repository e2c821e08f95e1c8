import { GraphQLError, type ValidationRule } from 'graphql';
import type { GraphQLParams, Plugin } from 'graphql-yoga';
import { AppError } from '../../errors.js';

/**
 * How deep lists and objects may nest, in the variables (and extensions) and in the document
 * (`[`, `{` and `(` together). Far above any legitimate operation (selections are limited to
 * depth 12, list inputs are shallow), far below what a recursive walk can take: graphql-js's
 * parser, GraphQL Armor's token counter and JSON.stringify (the response cache's key) overflow
 * the stack somewhere past a few thousand levels.
 */
export const MAX_NESTING = 64;

/**
 * A character PostgreSQL cannot store (`text` refuses NUL), or a lone UTF-16 surrogate: valid
 * in a JavaScript string, invalid UTF-8 once encoded, which pg would silently turn into U+FFFD.
 * With the `u` flag a well-formed surrogate pair is one code point, so `\p{Cs}` is a lone one.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding NUL is the point.
const UNSTORABLE = /[\u0000\p{Cs}]/u;

const CANNOT_STORE = 'contains a NUL character or an unpaired UTF-16 surrogate, which cannot be stored';

/** 400 BAD_USER_INPUT: nothing has executed when these are thrown. */
const refused = (message: string) => new AppError('BAD_USER_INPUT', message, 400);

/**
 * Input no part of the server can process, refused before anything reads it: a NUL or a lone
 * surrogate in any string the client sends (variables at any depth, object keys, the query
 * text, operationName, string literals of the document), and nesting past MAX_NESTING.
 *
 * The request's parameters are checked in onRequestParseDone: after the JSON body is parsed
 * (JSON.parse is not recursive, so 200,000 levels parse fine), before any onParams hook (the
 * response cache looks known texts up there, serialising the variables) and before graphql
 * parses the document. One operation of a batch failing refuses the whole batch. String
 * literals (`"a\u0000b"` is a NUL only once graphql has decoded the escape) are checked by a
 * validation rule, which yoga caches per document like the other rules.
 */
export function useInputGuard(): Plugin {
  return {
    onRequestParse() {
      return {
        onRequestParseDone({ requestParserResult }) {
          const operations = Array.isArray(requestParserResult) ? requestParserResult : [requestParserResult];
          for (const params of operations) {
            const problem = paramsProblem(params);
            if (problem) throw refused(problem);
          }
        },
      };
    },
    onValidate({ addValidationRule }) {
      addValidationRule(storableStringLiterals);
    },
  };
}

function paramsProblem(params: GraphQLParams): string | undefined {
  const { query, operationName } = params;
  if (typeof query === 'string') {
    if (UNSTORABLE.test(query)) return `The document ${CANNOT_STORE}.`;
    if (nestedDeeperThan(query, MAX_NESTING)) return `The document nests deeper than ${MAX_NESTING} levels.`;
  }
  if (typeof operationName === 'string' && UNSTORABLE.test(operationName)) {
    return `operationName ${CANNOT_STORE}.`;
  }
  return valueProblem(params.variables, 'Variables') ?? valueProblem(params.extensions, 'Extensions');
}

/** One iterative pass over a JSON value: every string (keys too) and the nesting depth. */
function valueProblem(root: unknown, what: string): string | undefined {
  const values: unknown[] = [root];
  const depths: number[] = [0];
  while (values.length > 0) {
    const value = values.pop();
    const depth = depths.pop()!;
    if (typeof value === 'string') {
      if (UNSTORABLE.test(value)) return `${what} ${CANNOT_STORE}.`;
    } else if (typeof value === 'object' && value !== null) {
      if (depth >= MAX_NESTING) return `${what} nest deeper than ${MAX_NESTING} levels.`;
      const entries = Array.isArray(value) ? value.entries() : Object.entries(value);
      for (const [key, child] of entries) {
        if (typeof key === 'string' && UNSTORABLE.test(key)) return `${what} ${CANNOT_STORE}.`;
        values.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return undefined;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const HASH = 0x23;
const LF = 0x0a;
const CR = 0x0d;
const OPEN_BRACKET = 0x5b; // [
const OPEN_BRACE = 0x7b; // {
const OPEN_PAREN = 0x28; // (
const CLOSE_BRACKET = 0x5d;
const CLOSE_BRACE = 0x7d;
const CLOSE_PAREN = 0x29;

/**
 * True when `[`, `{` and `(` nest deeper than `max` in a GraphQL document: one linear scan that
 * skips strings, block strings and comments (brackets there are text). Unbalanced input is
 * left to the parser, which rejects it without recursing.
 */
export function nestedDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    switch (text.charCodeAt(i)) {
      case OPEN_BRACKET:
      case OPEN_BRACE:
      case OPEN_PAREN:
        if (++depth > max) return true;
        break;
      case CLOSE_BRACKET:
      case CLOSE_BRACE:
      case CLOSE_PAREN:
        if (depth > 0) depth--;
        break;
      case HASH:
        while (i + 1 < length && !isLineEnd(text.charCodeAt(i + 1))) i++;
        break;
      case QUOTE:
        i = text.startsWith('"""', i) ? blockStringEnd(text, i + 3) : stringEnd(text, i + 1);
        break;
    }
  }
  return false;
}

const isLineEnd = (c: number) => c === LF || c === CR;

/** The index of the quote closing a string that starts at `from`, or the end of its line. */
function stringEnd(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === BACKSLASH) i++;
    else if (c === QUOTE || isLineEnd(c)) return i;
  }
  return text.length;
}

/** The index of the last quote of the `"""` closing a block string (only `\"""` escapes). */
function blockStringEnd(text: string, from: number): number {
  let i = from;
  for (;;) {
    const close = text.indexOf('"""', i);
    if (close === -1) return text.length;
    if (text.charCodeAt(close - 1) !== BACKSLASH) return close + 2;
    i = close + 3;
  }
}

/** Every string literal of the document, as graphql decoded it. */
const storableStringLiterals: ValidationRule = (context) => ({
  StringValue(node) {
    if (!UNSTORABLE.test(node.value)) return;
    context.reportError(
      new GraphQLError(`A string literal ${CANNOT_STORE}.`, {
        nodes: node,
        // spec: false, or yoga marks it a spec validation error and answers application/json with 200.
        extensions: { code: 'BAD_USER_INPUT', http: { status: 400, spec: false } },
      }),
    );
  },
});
