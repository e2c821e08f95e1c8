import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { sendNodeResponse } from '@whatwg-node/server';
import type { App } from '../app.js';
import { AppError, badHost, errorResponse } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { rawHeaderValues } from '../tenancy/request-host.js';

/**
 * The one place where Node's HTTP server meets yoga. Everything a socket can send ends here in
 * a GraphQL-shaped answer: requests Node cannot parse, request targets whatwg-node cannot turn
 * into a URL, and any exception of the request path. whatwg-node's own fallback for an
 * exception (server/utils.js `handleErrorFromRequestHandler`) answers 500 with the stack trace
 * as the body, so it is never given one: see `serve`.
 */
export function createHttpServer(app: App, logger: Logger): Server {
  // requireHostHeader off: a request without Host gets our GraphQL-shaped 400, not Node's bare one.
  const server = createServer({ requireHostHeader: false }, nodeListener(app, logger));
  // Node's defaults answer a bare 400 (clientError) or cut the socket (CONNECT), unlogged.
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    // A client that left, or a response already under way: nothing can be said any more.
    const answering = (socket as { _httpMessage?: ServerResponse })._httpMessage?.headersSent;
    if (error.code === 'ECONNRESET' || !socket.writable || answering) return void socket.destroy();
    const refusal = parseRefusal(error.code);
    logger.warn({ code: error.code, status: refusal.httpStatus }, 'request refused: unparseable');
    void writeRaw(socket, refusal);
  });
  server.on('connect', (req: IncomingMessage, socket: Duplex) => {
    logRefusal(logger, req);
    void writeRaw(socket, invalidTarget());
  });
  return server;
}

/** The request listener: refuse what cannot be served, serve the rest, mask what throws. */
export function nodeListener(app: App, logger: Logger): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => void serve(app, logger, req, res);
}

async function serve(app: App, logger: Logger, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let response: Response;
  const refusal = refuseTarget(req);
  if (refusal) {
    logRefusal(logger, req);
    response = errorResponse(refusal);
  } else {
    placeholderForUnusableHost(req);
    try {
      // What yoga's requestListener does, minus its catch: whatever throws is ours to answer.
      response = await app.handleNodeRequestAndResponse(req, res, { req, res });
    } catch (error) {
      logger.error({ err: error, method: req.method, target: loggable(req.url) }, 'unexpected error');
      response = errorResponse(unexpected());
    }
  }
  try {
    await sendNodeResponse(response, res, req, true);
  } catch (error) {
    // The client went away mid-response; there is nobody left to answer.
    logger.debug({ err: error }, 'response not sent');
    res.destroy();
  }
}

const unexpected = () => new AppError('INTERNAL_SERVER_ERROR', 'Unexpected error.', 500);
const invalidTarget = () => new AppError('BAD_USER_INPUT', 'The request target is not valid.', 400);

/** Scheme and authority of an absolute-form target (RFC 9112 §3.2.2); http and https only. */
const ABSOLUTE_FORM = /^https?:\/\/([^/?#]*)/i;

/**
 * Decides on the request target before whatwg-node builds a URL from it (as `http://${Host}${target}`,
 * which throws or yields a wrong URL for anything but a path). Origin-form (`/path?query`) passes.
 * Absolute-form passes only when its authority equals the one Host header, and is rewritten to
 * origin-form: RFC 9112 §3.2.2 says a server MUST accept it and use the target's authority, and
 * §3.2 that a client MUST send a Host identical to it; serving only when both agree means a proxy
 * that routes by Host and this server can never pick different tenants (catalogue B3). Asterisk-form
 * (`OPTIONS *`) and anything else name nothing this server serves.
 */
function refuseTarget(req: IncomingMessage): AppError | undefined {
  const target = req.url ?? '';
  if (target.startsWith('/')) return undefined;
  const absolute = ABSOLUTE_FORM.exec(target);
  if (!absolute) return invalidTarget();
  const hosts = rawHeaderValues(req, 'host');
  if (hosts.length !== 1 || hosts[0]!.toLowerCase() !== absolute[1]!.toLowerCase()) return badHost();
  const rest = target.slice(absolute[0].length);
  req.url = rest.startsWith('/') ? rest : `/${rest}`;
  return undefined;
}

/** Answers no tenant: `.invalid` is reserved (RFC 2606) and never configured as a domain. */
const PLACEHOLDER_HOST = 'bad-host.invalid';

/**
 * whatwg-node builds the request URL from `Host` before any plugin runs, and a Host that is no
 * valid URL authority (`tenant1.localhost:abc`, `a b`) makes it throw. Such a request gets a
 * placeholder authority instead; the tenancy plugin reads the real Host from `rawHeaders` and
 * answers 400 BAD_HOST, and /healthz still answers on it.
 */
function placeholderForUnusableHost(req: IncomingMessage): void {
  const host = req.headers.host;
  if (host && !URL.canParse(`http://${host}/`)) req.headers.host = PLACEHOLDER_HOST;
}

function logRefusal(logger: Logger, req: IncomingMessage): void {
  logger.warn({ method: req.method, target: loggable(req.url) }, 'request refused: invalid target');
}

const LOGGED_TARGET_CHARS = 200;

/** At most 200 characters of the target, anything outside printable ASCII escaped. */
function loggable(target: string | undefined): string {
  const text = (target ?? '').slice(0, LOGGED_TARGET_CHARS);
  return text.replace(/[^\x21-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The status Node itself would answer (its `clientError` default), with our body. */
function parseRefusal(code: string | undefined): AppError {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return new AppError('BAD_USER_INPUT', 'The request headers are too large.', 431);
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return new AppError('BAD_USER_INPUT', 'The request body is malformed.', 413);
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new AppError('BAD_USER_INPUT', 'The request did not arrive in time.', 408);
    default:
      return new AppError('BAD_USER_INPUT', 'The request could not be parsed.', 400);
  }
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  413: 'Content Too Large',
  431: 'Request Header Fields Too Large',
};

/** For sockets without a ServerResponse (a parse error, CONNECT): the answer, then the close. */
async function writeRaw(socket: Duplex, error: AppError): Promise<void> {
  const body = await errorResponse(error).text();
  socket.end(
    `HTTP/1.1 ${error.httpStatus} ${REASONS[error.httpStatus] ?? 'Bad Request'}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}
