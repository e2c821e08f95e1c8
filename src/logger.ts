import { type Logger, pino } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level: string;
  /** Human-readable lines, for development only. */
  pretty: boolean;
}

/** Credentials never reach a log line, wherever they appear in a logged object. */
const redact = {
  paths: [
    'authorization',
    '*.authorization',
    'headers.authorization',
    'req.headers.authorization',
    'token',
    '*.token',
    'secret',
    '*.secret',
    'password',
    '*.password',
  ],
  censor: '[redacted]',
};

export function createLogger(options: LoggerOptions): Logger {
  return pino({
    level: options.level,
    redact,
    ...(options.pretty ? { transport: { target: 'pino-pretty', options: { colorize: true } } } : {}),
  });
}

/** A logger that writes nothing, for tests and CLI commands that need one. */
export const silentLogger: Logger = pino({ level: 'silent' });
