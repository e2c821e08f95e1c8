import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSchema, createYoga } from 'graphql-yoga';
import { describe, expect, it } from 'vitest';
import { drainServer } from '../../src/http/drain.js';
import { silentLogger } from '../../src/observability/logger.js';
import { useEndStreamsOnShutdown } from '../../src/pipeline/plugins/use-end-streams-on-shutdown.js';

/**
 * The shutdown path with a real HTTP server and a real SSE subscription (the tenant schema's
 * own subscriptions go through the same plugin): streams end with yoga's `complete` event,
 * in-flight requests finish, idle keep-alive sockets do not hold the server open.
 */
function tickingServer() {
  const shutdown = new AbortController();
  const sources = { open: 0, returned: 0 };
  let releaseSlow: () => void = () => {};
  const slowGate = new Promise<void>((resolve) => {
    releaseSlow = resolve;
  });
  const schema = createSchema({
    typeDefs: 'type Query { slow: String! fast: String! } type Subscription { tick: Int! }',
    resolvers: {
      Query: {
        slow: async () => {
          await slowGate;
          return 'done';
        },
        fast: () => 'fast',
      },
      Subscription: {
        tick: {
          async *subscribe() {
            sources.open++;
            try {
              for (let i = 0; ; i++) {
                yield { tick: i };
                await new Promise((r) => setTimeout(r, 50));
              }
            } finally {
              sources.returned++;
            }
          },
        },
      },
    },
  });
  const yoga = createYoga({ schema, logging: false, plugins: [useEndStreamsOnShutdown(shutdown.signal)] });
  const server = createServer(yoga);
  return { server, shutdown, sources, releaseSlow };
}

async function listen(server: ReturnType<typeof createServer>): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function post(port: number, query: string, accept: string, agent?: import('node:http').Agent) {
  return new Promise<{ status: number; body: string; firstChunk: Promise<void> }>((resolve, reject) => {
    let firstChunk: () => void = () => {};
    const first = new Promise<void>((r) => {
      firstChunk = r;
    });
    const req = httpRequest(
      {
        port,
        host: '127.0.0.1',
        path: '/graphql',
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', accept },
      },
      (res) => {
        let body = '';
        res.on('data', (chunk) => {
          body += chunk;
          firstChunk();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, firstChunk: first }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ query }));
  });
}

describe('shutdown', () => {
  it('ends SSE streams with their complete event and releases the source', async () => {
    const { server, shutdown, sources } = tickingServer();
    const port = await listen(server);
    let sawTick: () => void = () => {};
    const ticked = new Promise<void>((r) => {
      sawTick = r;
    });
    const stream = new Promise<string>((resolve, reject) => {
      const req = httpRequest(
        {
          port,
          host: '127.0.0.1',
          path: '/graphql',
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
        },
        (res) => {
          let body = '';
          res.on('data', (chunk) => {
            body += chunk;
            if (body.includes('"tick"')) sawTick();
          });
          // 'close' too: a stream cut at the deadline never ends, and the test must fail, not hang.
          res.on('close', () => resolve(body));
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify({ query: 'subscription { tick }' }));
    });
    await ticked;
    const started = performance.now();
    shutdown.abort();
    const drained = await drainServer(server, { logger: silentLogger, timeoutMs: 5_000 });
    const body = await stream;
    expect(drained).toBe(true);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(body).toContain('event: complete');
    expect(sources).toEqual({ open: 1, returned: 1 });
  });

  it('lets a request in flight finish, refuses new connections, and ignores idle keep-alive sockets', async () => {
    const { server, releaseSlow } = tickingServer();
    const port = await listen(server);
    const { Agent } = await import('node:http');
    const agent = new Agent({ keepAlive: true });
    // An idle keep-alive socket: it must not hold the server open.
    expect((await post(port, '{ fast }', 'application/json', agent)).status).toBe(200);
    const slow = post(port, '{ slow }', 'application/json');
    await new Promise((r) => setTimeout(r, 100));
    const started = performance.now();
    const draining = drainServer(server, { logger: silentLogger, timeoutMs: 5_000 });
    await expect(post(port, '{ fast }', 'application/json')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    setTimeout(releaseSlow, 300);
    const answer = await slow;
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ data: { slow: 'done' } });
    expect(await draining).toBe(true);
    expect(performance.now() - started).toBeLessThan(2_000);
    agent.destroy();
  });

  it('cuts connections at the deadline and says so', async () => {
    const { server, releaseSlow } = tickingServer();
    const port = await listen(server);
    const slow = post(port, '{ slow }', 'application/json').catch((error: Error) => error);
    await new Promise((r) => setTimeout(r, 100));
    const started = performance.now();
    expect(await drainServer(server, { logger: silentLogger, timeoutMs: 300 })).toBe(false);
    expect(performance.now() - started).toBeLessThan(1_500);
    expect(await slow).toBeInstanceOf(Error); // socket hang up
    releaseSlow();
  });
});
