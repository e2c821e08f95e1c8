import { StartupFailure } from '../startup-failure.js';
import type { Pool } from './pool.js';

/** Socket errors while connecting, as an operator would say them. */
const NETWORK: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'no answer',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found',
};

/**
 * One line saying why PostgreSQL at `url` (the value of `setting`) could not be reached or
 * would not let us in, naming its host:port and the setting, never the password; undefined
 * when `error` is not a connection failure (a failing statement, say).
 */
export function describeConnectionFailure(error: unknown, setting: string, url: string): string | undefined {
  const { code, message = '' } = error as { code?: string; message?: string };
  if (!URL.canParse(url)) return undefined;
  const target = new URL(url);
  const address = `${target.hostname}:${target.port || '5432'}`;
  const user = decodeURIComponent(target.username);
  const reason = (code && NETWORK[code]) || timeoutOrClosed(message);
  if (reason) return `cannot connect to PostgreSQL at ${address} (${reason}): check ${setting}`;
  switch (code) {
    case '28P01': // invalid_password (also an unknown user, under password authentication)
      return `PostgreSQL at ${address} refused the password of user "${user}": check ${setting}`;
    case '28000': // invalid_authorization_specification: no such role, no pg_hba.conf entry
      return `PostgreSQL at ${address} refused user "${user}" (${message}): check ${setting}`;
    case '3D000': {
      const database = decodeURIComponent(target.pathname.slice(1)) || user;
      return `database "${database}" does not exist on ${address}: check ${setting}`;
    }
    case '53300': // too_many_connections
    case '57P03': // cannot_connect_now: starting up or shutting down
      return `PostgreSQL at ${address} does not accept connections now (${message}): check ${setting}, or try again`;
    default:
      return undefined;
  }
}

/** pg's own words for a connection that timed out or that the server dropped. */
function timeoutOrClosed(message: string): string | undefined {
  if (/timeout/i.test(message)) return 'no answer in time';
  if (/Connection terminated unexpectedly/.test(message)) return 'closed by the server: is it PostgreSQL?';
  return undefined;
}

/**
 * Connects once through `pool` and lets go, so a wrong `setting` stops the start-up with one
 * plain line rather than failing the first request.
 */
export async function checkConnection(pool: Pool, setting: string, url: string): Promise<void> {
  try {
    const client = await pool.connect();
    client.release();
  } catch (error) {
    const known = describeConnectionFailure(error, setting, url);
    if (known) throw new StartupFailure(known);
    // Anything else (TLS, a proxy's own refusal): pg's words, with the password blanked just in case.
    const { hostname, port, password } = new URL(url);
    const secret = decodeURIComponent(password);
    const words = (error as Error).message.replaceAll('\n', ' ');
    throw new StartupFailure(
      `cannot connect to PostgreSQL at ${hostname}:${port || '5432'} (${secret ? words.replaceAll(secret, '***') : words}): check ${setting}`,
    );
  }
}
