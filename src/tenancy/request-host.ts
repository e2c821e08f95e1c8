import type { IncomingMessage } from 'node:http';

export type RawHost = { ok: true; value: string } | { ok: false };

/**
 * The Host a request was sent to. Node folds repeated Host headers into the first, so over a
 * real socket we read `rawHeaders` to reject repetition. Requests made in-process with
 * `app.fetch` carry only the fetch headers (or the URL's host).
 */
export function requestHost(
  request: Request,
  req: IncomingMessage | undefined,
  trustProxy: boolean,
): RawHost {
  if (trustProxy) {
    const forwarded = sentValues(request, req, 'x-forwarded-host');
    const first = forwarded[0]?.split(',')[0]?.trim();
    if (first) return { ok: true, value: first };
  }
  if (req) {
    const hosts = rawHeaderValues(req, 'host');
    return hosts.length === 1 ? { ok: true, value: hosts[0]! } : { ok: false };
  }
  const host = request.headers.get('host') ?? new URL(request.url).host;
  return host.includes(',') ? { ok: false } : { ok: true, value: host };
}

/**
 * The address a request came from, for limits kept per client: the socket's peer, or behind a
 * trusted proxy (TRUST_PROXY) the last `X-Forwarded-For` entry — the one that proxy appended;
 * the entries before it are whatever the client sent. Requests made in-process share one name.
 */
export function clientAddress(
  request: Request,
  req: IncomingMessage | undefined,
  trustProxy: boolean,
): string {
  if (trustProxy) {
    const forwarded = sentValues(request, req, 'x-forwarded-for');
    const last = forwarded.at(-1)?.split(',').at(-1)?.trim();
    if (last) return last.slice(0, 64);
  }
  return req?.socket.remoteAddress ?? 'in-process';
}

/** Every value of header `name` as sent, repetitions included. */
export function rawHeaderValues(req: IncomingMessage, name: string): string[] {
  const values: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === name.length && raw[i]!.toLowerCase() === name) values.push(raw[i + 1]!);
  }
  return values;
}

/** Header `name` as sent: every line over a socket, the fetch header in-process. */
function sentValues(request: Request, req: IncomingMessage | undefined, name: string): string[] {
  return req ? rawHeaderValues(req, name) : headerValues(request, name);
}

function headerValues(request: Request, name: string): string[] {
  const value = request.headers.get(name);
  return value === null ? [] : [value];
}
