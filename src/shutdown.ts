import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import type { Logger } from './logger.js';

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

export interface DrainOptions {
  logger: Logger;
  /** How long requests in flight may take before their connections are cut. */
  timeoutMs: number;
}

/**
 * Stops accepting, lets requests in flight finish, and resolves once every connection is
 * gone. Resolves `true` when all finished in time, `false` when the deadline cut some.
 *
 * close() alone waits for keep-alive sockets too, so idle ones are closed right after it
 * (Node's docs: call closeIdleConnections after close to avoid a race), and each response
 * finished meanwhile says `Connection: close` so its socket does not linger as idle.
 */
export function drainServer(server: Server, options: DrainOptions): Promise<boolean> {
  return new Promise((resolve) => {
    let forced = false;
    const markClose = (_request: IncomingMessage, response: ServerResponse) => {
      if (!response.headersSent) response.setHeader('connection', 'close');
    };
    server.prependListener('request', markClose);
    const closeWhenIdle = () => server.closeIdleConnections();
    const idleTimer = setInterval(closeWhenIdle, 100);
    const deadline = setTimeout(() => {
      forced = true;
      options.logger.warn('requests still running at the shutdown deadline; closing their connections');
      server.closeAllConnections();
    }, options.timeoutMs);
    server.close(() => {
      clearTimeout(deadline);
      clearInterval(idleTimer);
      server.off('request', markClose);
      resolve(!forced);
    });
    server.closeIdleConnections();
  });
}
