import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';
import { TestApp } from '../helpers/app.js';
import { type RawExchange, rawExchange } from '../helpers/raw-http.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

// SPEC §7 "No response, on any path or host, ever carries a stack trace, a file path, SQL, or a
// library's raw message"; catalogue B1, B3, G7. Everything here goes over a real socket, as raw
// bytes: these are requests no fetch client would send.

/** Every JSON line the app logged. */
class CapturedLog {
  text = '';
  write(chunk: string) {
    this.text += chunk;
  }
  since(offset: number): Record<string, any>[] {
    return this.text
      .slice(offset)
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line));
  }
}

const log = new CapturedLog();
let t: TestApp;
let port: number;
beforeAll(async () => {
  t = await TestApp.start({ logger: createLogger({ level: 'info', pretty: false, destination: log }) });
  port = await t.listen();
});
afterAll(() => t.close());

const QUERY = JSON.stringify({ query: '{ tenant { id } }' });

/** A request line and header lines, closed after one answer; a body makes it a JSON POST. */
function request(line: string, headers: string[] = [], body?: string): string {
  const head = [line, ...headers, 'Connection: close'];
  if (body !== undefined)
    head.push('Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`);
  return `${head.join('\r\n')}\r\n\r\n${body ?? ''}`;
}

/** Sends `bytes` and returns the answer with the log lines written meanwhile. */
async function exchange(
  bytes: string | Buffer,
): Promise<{ answer: RawExchange; lines: Record<string, any>[] }> {
  const offset = log.text.length;
  const answer = await rawExchange(port, bytes);
  return { answer, lines: log.since(offset) };
}

/** The GraphQL-shaped error body of §5/§7, and nothing else. */
function expectError(answer: RawExchange, status: number, code: string): void {
  expect(answer.status, answer.text).toBe(status);
  expect(JSON.parse(answer.text)).toEqual({
    errors: [{ message: expect.any(String), extensions: { code } }],
  });
}

/** What must never appear in any body: a stack frame, a file path, an error's raw text. */
const LEAKS = [
  /\n\s+at /,
  /node_modules/,
  /(?<!Syntax )\b\w*Error:/,
  /file:\/\/|\/work\/|\/home\/|\.[cm]?[jt]s:\d+/,
  /"stack"/,
];

function expectNoLeak(answer: RawExchange, sent: string): void {
  for (const leak of LEAKS)
    expect(answer.text, `${leak} answering ${JSON.stringify(sent)}`).not.toMatch(leak);
}

describe("the issue's probes", () => {
  it.each([
    ['GET http://x/ HTTP/1.0', [], 400, 'BAD_HOST'],
    ['GET http://x/healthz HTTP/1.0', [], 400, 'BAD_HOST'],
    ['OPTIONS * HTTP/1.0', [], 400, 'BAD_USER_INPUT'],
    ['OPTIONS * HTTP/1.1', ['Host: tenant1.localhost'], 400, 'BAD_USER_INPUT'],
  ])('%s %j answers %i %s, logged once as a warning', async (line, headers, status, code) => {
    const { answer, lines } = await exchange(request(line, headers));
    expectError(answer, status, code);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 40,
        msg: 'request refused: invalid target',
        method: line.split(' ')[0],
      }),
    ]);
  });
});

describe('absolute-form targets (RFC 9112 §3.2.2, catalogue B3)', () => {
  it('served when the authority is the Host, compared case-insensitively', async () => {
    for (const [target, host, id] of [
      ['http://tenant1.localhost/graphql', 'tenant1.localhost', 2],
      ['HTTP://TENANT1.LOCALHOST:4000/graphql', 'tenant1.localhost:4000', 2],
      ['https://tenant2.localhost/graphql', 'tenant2.localhost', 3],
    ] as const) {
      const { answer } = await exchange(request(`POST ${target} HTTP/1.1`, [`Host: ${host}`], QUERY));
      expect(JSON.parse(answer.text), target).toEqual({ data: { tenant: { id } } });
    }
    const health = await exchange(request('GET http://evil.test/healthz HTTP/1.1', ['Host: evil.test']));
    expect(health.answer.status).toBe(200);
  });

  it('refused with 400 BAD_HOST when the authority and the Host disagree, or there is no one Host', async () => {
    const token = await t.token(2);
    for (const headers of [
      ['Host: tenant1.localhost', `Authorization: Bearer ${token}`], // tenant 2's token, tenant 3's URL
      ['Host: tenant2.localhost.'],
      ['Host: tenant2.localhost:4000'],
      ['Host: tenant2.localhost', 'Host: tenant2.localhost'],
      [],
    ]) {
      const { answer } = await exchange(
        request('POST http://tenant2.localhost/graphql HTTP/1.1', headers, QUERY),
      );
      expectError(answer, 400, 'BAD_HOST');
    }
    // userinfo is no part of Host (RFC 9112 §3.2), and no part of anything we serve.
    const userinfo = request('POST http://u@tenant1.localhost/graphql HTTP/1.1', ['Host: tenant1.localhost']);
    expectError((await exchange(userinfo)).answer, 400, 'BAD_HOST');
  });

  it('other schemes are no valid target', async () => {
    const { answer } = await exchange(
      request('GET ftp://tenant1.localhost/graphql HTTP/1.1', ['Host: tenant1.localhost']),
    );
    expectError(answer, 400, 'BAD_USER_INPUT');
  });
});

describe('requests Node itself refuses get the same body, logged once', () => {
  it.each([
    ['a target without a slash', 'GET graphql HTTP/1.1\r\nHost: tenant1.localhost', 400],
    ['an unknown method', 'FOO /graphql HTTP/1.1\r\nHost: tenant1.localhost', 400],
    ['a malformed header', 'GET /graphql HTTP/1.1\r\nHost: tenant1.localhost\r\nBad Header: x', 400],
    ['an unknown HTTP version', 'GET /graphql HTTP/7.0\r\nHost: tenant1.localhost', 400],
    [
      'headers over 16 KB',
      `GET /graphql HTTP/1.1\r\nHost: tenant1.localhost\r\nX: ${'a'.repeat(20_000)}`,
      431,
    ],
  ])('%s', async (_name, head, status) => {
    const { answer, lines } = await exchange(`${head}\r\n\r\n`);
    expectError(answer, status, 'BAD_USER_INPUT');
    expect(lines).toEqual([expect.objectContaining({ level: 40, msg: 'request refused: unparseable' })]);
  });

  it('CONNECT', async () => {
    const { answer, lines } = await exchange(
      'CONNECT tenant1.localhost:80 HTTP/1.1\r\nHost: tenant1.localhost:80\r\n\r\n',
    );
    expectError(answer, 400, 'BAD_USER_INPUT');
    expect(lines).toHaveLength(1);
  });
});

it('a refused target is logged truncated', async () => {
  const target = `http://x/${'a'.repeat(5_000)}`;
  const { lines } = await exchange(`GET ${target} HTTP/1.0\r\n\r\n`);
  expect(lines).toEqual([expect.objectContaining({ msg: 'request refused: invalid target' })]);
  expect(lines[0]!.target).toBe(target.slice(0, 200));
});

describe('a sweep of odd request lines, paths and hosts', () => {
  const targets = [
    '/graphql',
    '/healthz',
    '/readyz',
    '/metrics',
    '/',
    '/graphql/',
    '//evil.test/graphql',
    '/x/graphql',
    '/graphql?query=%7Btenant%7Bid%7D%7D',
    '//x/graphql?query=%7Btenant%7Bid%7D%7D',
    '/graphql?query=%FF',
    '/graphql?query=%00',
    '/graphql?variables=%7B',
    '/graphql/../healthz',
    '/%zz',
    '/%00',
    '*',
    'http://tenant1.localhost/graphql',
    'http://[::1/graphql',
    'http:///graphql',
    'http:/graphql',
    'mailto:a@b',
  ];
  const hosts = [
    ['Host: tenant1.localhost'],
    ['Host: evil.test'],
    ['Host: acme.localhost'],
    ['Host: admin.localhost'],
    ['Host: tenant1.localhost:abc'],
    ['Host: tenant1.localhost:99999'],
    ['Host: [::1'],
    ['Host: '],
    ['Host: a', 'Host: b'],
    [],
  ];

  it('no body carries a stack, a path or a raw error, and nothing answers 500', async () => {
    let sent = 0;
    for (const method of ['GET', 'POST', 'OPTIONS', 'TRACE']) {
      for (const target of targets) {
        for (const host of hosts) {
          for (const version of ['1.1', '1.0']) {
            const bytes = request(
              `${method} ${target} HTTP/${version}`,
              host,
              method === 'POST' ? QUERY : undefined,
            );
            const { answer } = await exchange(bytes);
            expectNoLeak(answer, bytes);
            expect(answer.status, bytes).not.toBe(500);
            sent++;
          }
        }
      }
    }
    expect(sent).toBe(4 * targets.length * hosts.length * 2);
    // …and the server still serves.
    const { answer } = await exchange(request('POST /graphql HTTP/1.1', ['Host: tenant1.localhost'], QUERY));
    expect(JSON.parse(answer.text)).toEqual({ data: { tenant: { id: 2 } } });
  }, 120_000);
});

describe('an exception in the request path', () => {
  let proxy: TcpProxy;
  let cut: TestApp;
  let cutPort: number;
  const cutLog = new CapturedLog();
  beforeAll(async () => {
    const pg = new URL(inject('superuserUrl'));
    proxy = await TcpProxy.start({ host: pg.hostname, port: Number(pg.port || 5432) });
    cut = await TestApp.start({
      poolUrl: (url) => proxy.url(url),
      logger: createLogger({ level: 'info', pretty: false, destination: cutLog }),
    });
    cutPort = await cut.listen();
  });
  afterAll(async () => {
    await cut.close();
    await proxy.close();
  });

  it('is a masked 500 with one error line, never whatwg-node stack-trace body', async () => {
    // An API key is looked up in PostgreSQL before GraphQL runs; with PostgreSQL cut, that
    // lookup throws outside anything yoga catches.
    const key = `tql_${'0'.repeat(12)}_${'A'.repeat(43)}`;
    const bytes = request(
      'POST /graphql HTTP/1.1',
      ['Host: tenant1.localhost', `Authorization: ApiKey ${key}`],
      QUERY,
    );
    proxy.mode = 'refuse';
    const offset = cutLog.text.length;
    const answer = await rawExchange(cutPort, bytes);
    proxy.mode = 'forward';
    expect(answer.status).toBe(500);
    expect(JSON.parse(answer.text)).toEqual({
      errors: [{ message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR' } }],
    });
    expectNoLeak(answer, bytes);
    const errors = cutLog.since(offset).filter((line) => line.level >= 50);
    expect(errors).toEqual([expect.objectContaining({ msg: 'unexpected error', method: 'POST' })]);
    // The same request with PostgreSQL back is an ordinary 401.
    expectError(await rawExchange(cutPort, bytes), 401, 'UNAUTHENTICATED');
  });
});
