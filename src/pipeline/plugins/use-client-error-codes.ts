import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { asBadUserInput } from '../../errors.js';

/**
 * Parse and validation errors are the client's own input: SPEC §7 reports them as
 * BAD_USER_INPUT (graphql-js and yoga would say GRAPHQL_VALIDATION_FAILED / _PARSE_FAILED).
 */
export function useClientErrorCodes(): Plugin {
  return {
    onValidate() {
      return ({ result, setResult }) => {
        if (result.length > 0)
          setResult(result.map((e) => (e instanceof GraphQLError ? asBadUserInput(e) : e)));
      };
    },
  };
}
