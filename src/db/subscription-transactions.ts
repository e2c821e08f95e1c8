import {
  createSourceEventStream,
  type ExecutionArgs,
  type ExecutionResult,
  execute,
  GraphQLError,
} from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import type { Context } from '../context.js';
import { AppError } from '../errors.js';

export interface SubscriptionTransactionsOptions {
  /** A context like `base` (same tenant, principal, settings) with a fresh transaction and loaders. */
  fork: (base: Context) => Context;
  /** False once the tenant was disabled or removed by a reload: the stream then ends. */
  stillServed: (base: Context) => boolean;
}

/**
 * A subscription lives for minutes or hours; its request transaction must not. The request's
 * own transaction is never begun (the source stream reads no rows) and is ended by
 * useRequestTransaction's onResponse safety net. Each event instead runs in a transaction of
 * its own, with the subscriber's tenant settings, committed before the event is sent — so a
 * pooled connection is held for one event at a time, and only if the event reads rows.
 */
export function useSubscriptionTransactions(options: SubscriptionTransactionsOptions): Plugin<Context> {
  return {
    onSubscribe({ setSubscribeFn }) {
      setSubscribeFn(async (args: ExecutionArgs) => {
        const stream = await createSourceEventStream(args);
        if (!isAsyncIterable(stream)) return stream;
        const base = args.contextValue as Context;
        return perEvent(
          stream[Symbol.asyncIterator](),
          (payload) => executeEvent(args, payload, options.fork(base)),
          () => options.stillServed(base),
        );
      });
    },
  };
}

async function executeEvent(
  args: ExecutionArgs,
  payload: unknown,
  context: Context,
): Promise<ExecutionResult> {
  try {
    const result = await execute({ ...args, rootValue: payload, contextValue: context });
    await context.db.finish(!result.errors?.length);
    return result;
  } catch (error) {
    await context.db.finish(false);
    const shown =
      error instanceof GraphQLError
        ? error
        : new GraphQLError('Unexpected error.', { originalError: error as Error });
    return { errors: [error instanceof AppError ? error : shown] };
  }
}

/**
 * Maps each source event through `run`. Hand-written rather than an async generator: a
 * generator cannot be returned while it awaits the next event, so a client that disconnects
 * from a quiet channel would keep its listener until the next event arrived.
 */
function perEvent(
  source: AsyncIterator<unknown>,
  run: (payload: unknown) => Promise<ExecutionResult>,
  stillServed: () => boolean,
): AsyncIterableIterator<ExecutionResult> {
  const done = async (): Promise<IteratorResult<ExecutionResult>> => {
    await source.return?.();
    return { done: true, value: undefined };
  };
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      const event = await source.next();
      if (event.done) return { done: true, value: undefined };
      if (!stillServed()) return done();
      return { done: false, value: await run(event.value) };
    },
    return: done,
    async throw(error: unknown) {
      await source.return?.();
      throw error;
    },
  };
}
