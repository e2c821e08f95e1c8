import { createRequire } from 'node:module';
import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level: string;
  /** Human-readable lines, for development on a terminal only. */
  pretty: boolean;
  /** Where JSON lines go (tests capture them). @default stdout */
  destination?: DestinationStream;
}

/**
 * Credentials never reach a log line, wherever they appear in a logged object. Request lines
 * log no headers at all (see pipeline/plugins/use-observability.ts); this is the net for anything logged by hand.
 */
const redact = {
  paths: [
    'authorization',
    '*.authorization',
    'headers.authorization',
    'headers.cookie',
    'req.headers.authorization',
    'req.headers.cookie',
    'token',
    '*.token',
    'secret',
    '*.secret',
    'apiKey',
    '*.apiKey',
    'password',
    '*.password',
  ],
  censor: '[redacted]',
};

export function createLogger(options: LoggerOptions): Logger {
  const base = { level: options.level, redact };
  if (options.destination) return pino(base, options.destination);
  // pino-pretty is a dev dependency: a production install (npm ci --omit=dev) has none.
  if (options.pretty && resolvable('pino-pretty')) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { colorize: true } } });
  }
  return pino(base);
}

function resolvable(name: string): boolean {
  try {
    createRequire(import.meta.url).resolve(name);
    return true;
  } catch {
    return false;
  }
}

/** A logger that writes nothing, for tests and CLI commands that need one. */
export const silentLogger: Logger = pino({ level: 'silent' });
