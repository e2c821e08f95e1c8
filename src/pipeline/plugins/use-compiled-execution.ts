import { useGraphQlJit } from '@envelop/graphql-jit';
import { GraphQLError, type GraphQLSchema, type Source } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';

/**
 * Queries and mutations run through graphql-jit: each parsed document is compiled once into
 * a function, which cuts the server's CPU for nested reads by ~40 % (docs/performance.md).
 *
 * One compiler per schema, each used only for its own: the plugin caches compiled queries by
 * document, and yoga's parse cache hands the same document to every schema, so a shared cache
 * would run a document compiled for the tenant schema on the admin host (or back).
 *
 * Subscriptions stay on graphql-js: only onExecute is taken, and pipeline/transactions.ts
 * runs each event with graphql's `execute` in a transaction of its own.
 */
export function useCompiledExecution(schemas: readonly GraphQLSchema[]): Plugin[] {
  return schemas.map((schema) => {
    const jit = useGraphQlJit(
      {},
      // A document that does not compile answers with its errors (masked like any other);
      // the default would also print them with console.error.
      { onError: () => {} },
    );
    return {
      onExecute(payload) {
        if (payload.args.schema !== schema) return;
        jit.onExecute?.(payload);
        const source = payload.args.document.loc?.source;
        return {
          onExecuteDone: ({ result, setResult }) => {
            if (isAsyncIterable(result) || !result.errors?.length) return;
            const request = !('data' in result);
            setResult({ ...result, errors: result.errors.map((e) => asYogaError(e, source, request)) });
          },
        };
      },
    };
  });
}

/**
 * jit's errors carry `locations` but neither nodes nor positions, and yoga rebuilds every error
 * from those when it writes the response: the copy gets positions in the document, so the
 * client sees the same `locations` as from graphql-js. A result with errors and no `data` is a
 * request error (variables that do not coerce): yoga's executor answers it with HTTP 400
 * through `extensions.http`, and so do we.
 */
function asYogaError(error: GraphQLError, source: Source | undefined, request: boolean): GraphQLError {
  // Only jit's own errors: those made by our plugins (an AppError set by the transaction
  // plugin, say) keep their identity, which maskError relies on.
  if (error.nodes || error.positions || !error.locations) return error;
  const positions = source && error.locations?.map((at) => positionOf(source.body, at.line, at.column));
  const extensions = request
    ? { ...error.extensions, http: { ...(error.extensions?.http as object), status: 400 } }
    : error.extensions;
  return new GraphQLError(error.message, {
    source: positions ? source : undefined,
    positions,
    path: error.path,
    originalError: error.originalError ?? undefined,
    extensions,
  });
}

/** The offset of a 1-based line and column, with graphql-js's line breaks (\r\n, \n or \r). */
function positionOf(body: string, line: number, column: number): number {
  const breaks = /\r\n|[\n\r]/g;
  let offset = 0;
  for (let l = 1; l < line && breaks.exec(body); l++) offset = breaks.lastIndex;
  return offset + column - 1;
}
