import type { Server } from 'node:http';
import { StartupFailure } from '../startup-failure.js';

/**
 * `server.listen(port, host)`, rejecting with a StartupFailure that names the address and the
 * settings to change instead of leaving an unhandled 'error' event (which prints a stack).
 */
export function listen(
  server: Server,
  port: number,
  host: string,
  settings = { port: 'PORT', host: 'HOST' },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => reject(listenFailure(error, port, host, settings));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function listenFailure(
  error: NodeJS.ErrnoException,
  port: number,
  host: string,
  settings: { port: string; host: string },
): Error {
  const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  switch (error.code) {
    case 'EADDRINUSE':
      return new StartupFailure(
        `${address} is already in use (another tenantql?): stop it, or set ${settings.port} (or ${settings.host}) to another`,
      );
    case 'EACCES':
      return new StartupFailure(
        `no permission to listen on ${address} (ports below 1024 need privileges): set ${settings.port} to 1024 or above`,
      );
    case 'EADDRNOTAVAIL':
      return new StartupFailure(`${host} is not an address of this machine: set ${settings.host}`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new StartupFailure(`${host} does not resolve to an address: set ${settings.host}`);
    default:
      return error;
  }
}
