import { isAsyncIterable, type Plugin } from 'graphql-yoga';

/**
 * Ends every subscription stream when `signal` aborts: the source iterator is returned (so its
 * pub/sub subscription is released) and yoga closes the SSE response with its `complete`
 * event, instead of the socket being cut at the shutdown deadline.
 */
export function useEndStreamsOnShutdown(signal: AbortSignal): Plugin {
  return {
    onSubscribe() {
      return {
        onSubscribeResult({ result, setResult }) {
          if (isAsyncIterable(result)) setResult(endOnAbort(result, signal));
        },
      };
    },
  };
}

/**
 * A hand-written iterator rather than an async generator: a generator suspended in `await`
 * cannot be returned until that await settles, so a client that leaves would leak the source.
 */
export function endOnAbort<T>(source: AsyncIterable<T>, signal: AbortSignal): AsyncIterableIterator<T> {
  const iterator = source[Symbol.asyncIterator]();
  const done: IteratorReturnResult<undefined> = { done: true, value: undefined };
  let ended = false;
  let wake: (() => void) | undefined;
  const aborted = new Promise<IteratorResult<T>>((resolve) => {
    wake = () => resolve(done);
  });
  const finish = async (): Promise<IteratorResult<T>> => {
    if (ended) return done;
    ended = true;
    signal.removeEventListener('abort', onAbort);
    wake?.();
    await iterator.return?.();
    return done;
  };
  const onAbort = () => void finish();
  if (signal.aborted) void finish();
  else signal.addEventListener('abort', onAbort, { once: true });

  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    next: () => (ended ? Promise.resolve(done) : Promise.race([iterator.next(), aborted])),
    return: finish,
    async throw(error: unknown) {
      await finish();
      throw error;
    },
  };
}
