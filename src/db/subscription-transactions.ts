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
import type { Db } from './queries/rows.js';

/** Keeps each stream's credential under watch (auth/stream-credentials.ts). */
export interface StreamGuard {
  /**
   * Binds a new stream to the tenant and principal of `base`. The guard calls `end` (at most
   * once, never synchronously) as soon as that credential stops being valid; the stream then
   * sends the error as its last event and completes.
   */
  watch(base: Context, end: (error: AppError) => void): StreamWatch;
}

export interface StreamWatch {
  /** Still valid by the clock and the tenant set? If not, the guard has just called `end`. */
  isValid(): boolean;
  /** The same, and for an API key that it is still live, asked in the event's own transaction. */
  isValidIn(db: Db): Promise<boolean>;
  /** The stream ended; stop watching it. Idempotent. */
  release(): void;
}

export interface SubscriptionTransactionsOptions {
  /** A context like `base` (same tenant, principal, settings) with a fresh transaction and loaders. */
  fork: (base: Context) => Context;
  guard: StreamGuard;
}

/**
 * A subscription lives for minutes or hours; its request transaction must not. The request's
 * own transaction is never begun (the source stream reads no rows) and is ended by
 * useRequestTransaction's onResponse safety net. Each event instead runs in a transaction of
 * its own, with the subscriber's tenant settings, committed before the event is sent — so a
 * pooled connection is held for one event at a time, and only if the event reads rows (or the
 * stream's API key must be checked).
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
          (payload, watch) => executeEvent(args, payload, options.fork(base), watch),
          (end) => options.guard.watch(base, end),
        );
      });
    },
  };
}

/** The event's result, or undefined when the stream's credential failed its check (nothing ran). */
async function executeEvent(
  args: ExecutionArgs,
  payload: unknown,
  context: Context,
  watch: StreamWatch,
): Promise<ExecutionResult | undefined> {
  try {
    if (!(await watch.isValidIn(context.db))) {
      await context.db.finish(false);
      return undefined;
    }
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

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

/**
 * Maps each source event through `run`, and ends when the guard says so: the source is
 * released at once, the guard's error is sent as the last event, then the stream completes.
 * The credential is checked before each event runs and again right before it is delivered, so
 * an event that arrives (or finishes) after the credential went is dropped, not sent.
 *
 * Hand-written rather than an async generator: a generator cannot be returned while it awaits
 * the next event, so a client that disconnects from a quiet channel would keep its listener
 * until the next event arrived, and a quiet stream could not be ended by the guard.
 */
function perEvent(
  source: AsyncIterator<unknown>,
  run: (payload: unknown, watch: StreamWatch) => Promise<ExecutionResult | undefined>,
  watchWith: (end: (error: AppError) => void) => StreamWatch,
): AsyncIterableIterator<ExecutionResult> {
  let closed = false;
  /** The guard's error, until it is sent. */
  let final: ExecutionResult | undefined;
  let wake: () => void = () => {};
  const woken = new Promise<IteratorResult<unknown>>((resolve) => {
    wake = () => resolve(DONE);
  });
  const close = async () => {
    if (closed) return;
    closed = true;
    watch.release();
    wake();
    await source.return?.();
  };
  const watch = watchWith((error) => {
    if (closed) return;
    final = { errors: [error] };
    void close();
  });
  const finalOrDone = (): IteratorResult<ExecutionResult> => {
    const value = final;
    final = undefined;
    return value ? { done: false, value } : DONE;
  };

  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      if (closed) return finalOrDone();
      const event = await Promise.race([source.next(), woken]);
      if (closed) return finalOrDone();
      if (event.done) {
        await close();
        return DONE;
      }
      const result = watch.isValid() ? await run(event.value, watch) : undefined;
      if (closed || !result || !watch.isValid()) {
        await close(); // already closed by the guard's `end`; this only makes sure
        return finalOrDone();
      }
      return { done: false, value: result };
    },
    async return() {
      final = undefined; // the client left: nobody to tell
      await close();
      return DONE;
    },
    async throw(error: unknown) {
      await close();
      throw error;
    },
  };
}
