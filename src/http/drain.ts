import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Logger } from '../observability/logger.js';

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
