import type { GraphQLSchema } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Context } from '../../context.js';
import type { Pool } from '../../db/pool.js';
import { createFastPath, type FastPath, type FastPathOutcome } from '../../fastpath/index.js';
import type { Scopes } from '../../fastpath/scopes.js';
import { builder } from '../../graphql/builder.js';
import { nodeTypeSource } from '../../graphql/types/node.js';
import type { Logger } from '../../observability/logger.js';

/**
 * Nested reads of table-backed types as one SQL statement (src/fastpath/): the execute
 * function becomes "the fast path if it can answer, else the one before" (graphql-jit's), so
 * every plugin around execution (the transaction, the response cache, error masking) sees a
 * result as from any executor. Mutations, subscriptions, the admin host and whatever the fast
 * path cannot answer exactly run as before.
 */
export interface FastPathPluginOptions {
  readonly schema: GraphQLSchema;
  readonly pool: Pool;
  readonly logger: Logger;
  /** PG_PREPARED_STATEMENTS: statements stay prepared on each connection. */
  readonly prepared: boolean;
  readonly onOutcome?: (outcome: FastPathOutcome) => void;
}

export function useFastPath(options: FastPathPluginOptions): Plugin<Context> {
  const fastPath = fastPathFor(options);
  return {
    onExecute({ executeFn, setExecuteFn }) {
      setExecuteFn((args) => fastPath.execute(args, () => executeFn(args)));
    },
  };
}

function fastPathFor(options: FastPathPluginOptions): FastPath {
  // scope-auth's own function (graphql/builder.ts), so a field's authScopes mean the same here.
  const scopeAuth = (builder.options as { scopeAuth?: { authScopes?: (ctx: Context) => Scopes } }).scopeAuth;
  const authScopes = scopeAuth?.authScopes;
  return createFastPath({
    ...options,
    tableOf: nodeTypeSource,
    scopesOf: (ctx) => (authScopes ? authScopes(ctx) : {}),
  });
}
