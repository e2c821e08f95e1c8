import { getOperationAST } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import type { Context } from '../context.js';
import { AppError, internalError } from '../errors.js';
import type { Logger } from '../logger.js';
import { stateOf } from '../request-state.js';

/**
 * Ends each request's transaction: COMMIT when the operation produced no error, otherwise
 * ROLLBACK, so a mutation request is all or nothing. A failed COMMIT replaces the result with
 * an error. onResponse is the safety net for paths that never reach onExecuteDone.
 *
 * Only a mutation's transaction may write: every other one runs READ ONLY (SPEC §5).
 */
export function useRequestTransaction(logger: Logger): Plugin<Context> {
  return {
    onExecute({ args }) {
      if (getOperationAST(args.document, args.operationName)?.operation === 'mutation') {
        args.contextValue.db.allowWrites();
      }
      return {
        async onExecuteDone({ args, result, setResult }) {
          const tx = args.contextValue.db;
          if (isAsyncIterable(result)) {
            await tx.finish(false); // incremental delivery is not enabled; nothing to keep
            return;
          }
          try {
            await tx.finish(!result.errors?.length);
          } catch (error) {
            logger.error({ err: (error as Error).message }, 'commit failed');
            setResult({ data: null, errors: [error instanceof AppError ? error : internalError()] });
          }
        },
      };
    },
    async onResponse({ request }) {
      await stateOf(request).transaction?.finish(false);
    },
  };
}
