import { request } from 'node:http';
import { connect } from 'node:net';

export interface RawAnswer {
  status: number;
  /** The parsed JSON body. */
  body: any;
  /** Lowercased response headers (httpPost only). */
  headers?: Record<string, string | string[] | undefined>;
}

export interface RawRequestOptions {
  /** The request target, as sent. @default '/graphql' */
  path?: string;
  /** @default '1.1' */
  version?: string;
  /** @default '' */
  body?: string;
}

/**
 * One POST over a fresh socket to 127.0.0.1:`port`, written byte for byte: `headerLines` go out
 * exactly as given (no Host is added), so repeated, missing or odd Host headers reach the
 * server as a client could send them. Resolves with the status and the JSON body.
 */
export function rawRequest(port: number, headerLines: string[], options: RawRequestOptions = {}) {
  const body = options.body ?? '';
  const head = [
    `POST ${options.path ?? '/graphql'} HTTP/${options.version ?? '1.1'}`,
    ...headerLines,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
  ];
  return new Promise<RawAnswer>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.setTimeout(5_000, () => socket.destroy(new Error('socket timed out')));
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      try {
        resolve(parseResponse(Buffer.concat(chunks).toString('utf8')));
      } catch (error) {
        reject(error);
      }
    });
    socket.write(`${head.join('\r\n')}\r\n\r\n${body}`);
  });
}

export interface RawExchange {
  status: number;
  headers: string[];
  /** The body as text (de-chunked), whatever its type. */
  text: string;
}

/**
 * Writes `bytes` to a fresh socket exactly as given (request line, headers, body: anything a
 * client could send) and resolves with what came back once the server closes, or after
 * `timeoutMs` of silence. A connection the server dropped without an answer is status 0.
 */
export function rawExchange(port: number, bytes: string | Buffer, timeoutMs = 5_000): Promise<RawExchange> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const done = () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      if (raw === '') return resolve({ status: 0, headers: [], text: '' });
      const split = raw.indexOf('\r\n\r\n');
      const [statusLine, ...headers] = raw.slice(0, split === -1 ? raw.length : split).split('\r\n');
      let text = split === -1 ? '' : raw.slice(split + 4);
      if (headers.some((h) => /^transfer-encoding:\s*chunked/i.test(h))) text = dechunk(text);
      resolve({ status: Number(statusLine!.split(' ')[1]), headers, text });
    };
    socket.setTimeout(timeoutMs, () => socket.destroy());
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) =>
      error.code === 'ECONNRESET' ? done() : reject(error),
    );
    socket.on('close', done);
    socket.write(bytes);
  });
}

function parseResponse(raw: string): RawAnswer {
  const split = raw.indexOf('\r\n\r\n');
  const [statusLine, ...headers] = raw.slice(0, split).split('\r\n');
  let body = raw.slice(split + 4);
  if (headers.some((h) => /^transfer-encoding:\s*chunked/i.test(h))) body = dechunk(body);
  return { status: Number(statusLine!.split(' ')[1]), body: JSON.parse(body) };
}

function dechunk(text: string): string {
  let out = '';
  let rest = text;
  for (;;) {
    const eol = rest.indexOf('\r\n');
    const size = Number.parseInt(rest.slice(0, eol), 16);
    if (!size) return out;
    out += rest.slice(eol + 2, eol + 2 + size);
    rest = rest.slice(eol + 2 + size + 2);
  }
}

/**
 * A POST to /graphql on 127.0.0.1:`port` through node:http, on a connection of its own (a
 * body the server refused is never read to its end). `body` goes out as given, in chunks;
 * `chunked` sends it without Content-Length. Resolves with the status and the JSON body.
 */
export function httpPost(
  port: number,
  options: { host: string; headers?: Record<string, string>; body: string | Buffer[]; chunked?: boolean },
): Promise<RawAnswer> {
  const chunks = typeof options.body === 'string' ? [Buffer.from(options.body)] : options.body;
  const length = chunks.reduce((sum, c) => sum + c.length, 0);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/graphql',
        method: 'POST',
        agent: false,
        headers: {
          host: options.host,
          'content-type': 'application/json',
          ...options.headers,
          ...(options.chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(length) }),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode!, body: JSON.parse(text), headers: res.headers }),
        );
      },
    );
    // The server may answer and close before the whole body is sent.
    req.on('error', (error) =>
      (error as NodeJS.ErrnoException).code === 'EPIPE' ? undefined : reject(error),
    );
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}
