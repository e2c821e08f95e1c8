import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_REQUEST_BODY_BYTES } from '../../src/pipeline/plugins/use-request-body-limit.js';
import { TestApp } from '../helpers/app.js';
import { httpPost } from '../helpers/raw-http.js';

const HOST = 'tenant1.localhost';
let t: TestApp;
let port: number;
beforeAll(async () => {
  t = await TestApp.start();
  port = await t.listen();
});
afterAll(() => t.close());

interface Answer {
  status: number;
  body: { data?: unknown; errors?: { message: string; extensions?: { code?: string } }[] };
}

/** POSTs `chunks` to /graphql over a real socket; with `chunked`, no Content-Length is sent. */
const post = (chunks: Buffer[], chunked: boolean): Promise<Answer> =>
  httpPost(port, { host: HOST, body: chunks, chunked });

/** A valid GraphQL request padded with an unused variable to `bytes`, in 64 KiB chunks. */
function padded(bytes: number): Buffer[] {
  const head = '{"query":"{ tenant { id } }","variables":{"pad":"';
  const tail = '"}}';
  const body = Buffer.from(head + 'x'.repeat(Math.max(0, bytes - head.length - tail.length)) + tail);
  const chunks: Buffer[] = [];
  for (let at = 0; at < body.length; at += 65_536) chunks.push(body.subarray(at, at + 65_536));
  return chunks;
}

describe('the request-body limit', () => {
  it('answers a body with a Content-Length over the limit with 413 before reading it', async () => {
    const answer = await post(padded(MAX_REQUEST_BODY_BYTES + 1), false);
    expect(answer.status).toBe(413);
    expect(answer.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(answer.body.data).toBeUndefined();
  });

  it('counts a chunked body and answers 413 once it passes the limit', async () => {
    const answer = await post(padded(2 * MAX_REQUEST_BODY_BYTES), true);
    expect(answer.status).toBe(413);
    expect(answer.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('serves bodies within the limit, with a Content-Length or chunked', async () => {
    for (const chunked of [false, true]) {
      const answer = await post(padded(MAX_REQUEST_BODY_BYTES - 1_000), chunked);
      expect({ status: answer.status, body: answer.body }).toEqual({
        status: 200,
        body: { data: { tenant: { id: 2 } } },
      });
    }
  });

  it('refuses a Content-Length that is not one number', async () => {
    const status = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(
          `POST /graphql HTTP/1.1\r\nHost: ${HOST}\r\nContent-Type: application/json\r\nContent-Length: 5, 5\r\n\r\n{"a":`,
        );
      });
      let text = '';
      socket.on('data', (chunk) => {
        text += chunk;
        if (text.includes('\r\n')) {
          resolve(text.split('\r\n')[0]!);
          socket.destroy();
        }
      });
      socket.on('error', reject);
    });
    expect(status).toMatch(/^HTTP\/1\.1 400 /);
  });
});
