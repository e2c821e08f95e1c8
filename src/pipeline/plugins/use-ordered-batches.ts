import type { Plugin } from 'graphql-yoga';
import { stateOf } from '../state.js';

/** Every mutation operation is spelled with this keyword; a false positive only costs order. */
const MAY_MUTATE = /\bmutation\b/;

/**
 * yoga runs the operations of a batch in parallel, each in a transaction of its own. A batch
 * that contains a mutation runs them one after another instead, in the order sent, each after
 * the one before has finished (and committed, and invalidated the response cache): a query
 * after a mutation in the same batch sees its writes and is never answered from a cache entry
 * made before it. Batches of queries only still run in parallel.
 *
 * Each operation's handler (parse, validate, execute) queues behind the previous one. Every
 * operation of the batch goes through the same hooks, so they reach the queue in the order
 * sent; one that fails before it (malformed parameters) simply never queues, and cannot hold
 * up the others.
 */
export function useOrderedBatches(): Plugin {
  /** The operation that ran last, per ordered batch. */
  const tails = new WeakMap<Request, Promise<unknown>>();
  return {
    onRequestParse({ request }) {
      return {
        onRequestParseDone({ requestParserResult }) {
          if (!Array.isArray(requestParserResult) || requestParserResult.length < 2) return;
          if (!requestParserResult.some((params) => MAY_MUTATE.test(String(params.query ?? '')))) return;
          // Also read by the response cache (use-response-cache.ts): no early lookups for this batch.
          stateOf(request).orderedBatch = true;
        },
      };
    },
    onParams({ request, paramsHandler, setParamsHandler }) {
      const state = stateOf(request);
      if (!state.orderedBatch) return;
      setParamsHandler((payload) => {
        const previous = tails.get(request) ?? Promise.resolve();
        const run = previous.then(() => paramsHandler(payload));
        tails.set(
          request,
          run.catch(() => {}),
        );
        return run;
      });
    },
  };
}
