import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestApp } from '../helpers/app.js';
import { type RawAnswer as Answer, type RawRequestOptions, rawRequest } from '../helpers/raw-http.js';

// SPEC §5: every Host outcome, in-process (app.fetch with a Host header) and over a real socket
// with raw bytes, where Node's own header handling (repetition, HTTP/1.0) comes into play.

let t: TestApp;
let port: number;
beforeAll(async () => {
  t = await TestApp.start();
  port = await t.listen();
});
afterAll(() => t.close());

const QUERY = JSON.stringify({ query: '{ tenant { id } }' });

/** app.fetch with exactly this Host header; the URL's host is a placeholder that matches nothing. */
async function viaFetch(host: string, path = '/graphql', body = QUERY): Promise<Answer> {
  const headers = new Headers({ 'content-type': 'application/json' });
  headers.set('host', host);
  const response = await t.app.fetch(`http://placeholder.invalid${path}`, { method: 'POST', headers, body });
  return { status: response.status, body: await response.json() };
}

/** Raw bytes to the test server: `headerLines` are sent exactly as given (no Host is added). */
const viaSocket = (headerLines: string[], options: RawRequestOptions = {}) =>
  rawRequest(port, headerLines, { body: QUERY, ...options });

/** The GraphQL-shaped error body of §5, and nothing else (no data, no stack). */
function expectError(answer: Answer, status: number, code: string): void {
  expect(answer.status).toBe(status);
  expect(answer.body).toEqual({ errors: [{ message: expect.any(String), extensions: { code } }] });
}

const served: [host: string, tenantId: number][] = [
  ['tenant1.localhost', 2],
  ['tenant1.localhost:4000', 2],
  ['TENANT1.LocalHost', 2],
  ['tenant1.localhost.', 2],
  ['Tenant1.LOCALHOST.:8080', 2],
  ['tenant1.localhost:65535', 2],
  ['tenant1.localhost:04000', 2],
  ['tenant2.localhost', 3],
  ['graphql.tenant-two.test', 3],
  ['GRAPHQL.Tenant-Two.TEST.:443', 3],
  ['tenant3.localhost', 4],
];

const rejected: [host: string, status: number, code: string][] = [
  ['x.tenant1.localhost', 404, 'TENANT_NOT_FOUND'],
  ['tenant1.localhost.evil.test', 404, 'TENANT_NOT_FOUND'],
  ['graphql.tenant-two.test.localhost', 404, 'TENANT_NOT_FOUND'],
  ['tenant-two.test', 404, 'TENANT_NOT_FOUND'],
  ['localhost', 404, 'TENANT_NOT_FOUND'],
  ['localhost:4000', 404, 'TENANT_NOT_FOUND'],
  ['evil.test', 404, 'TENANT_NOT_FOUND'],
  ['acme.localhost', 403, 'TENANT_DISABLED'],
  ['ACME.localhost.:4000', 403, 'TENANT_DISABLED'],
  ['tenant1.localhost:abc', 400, 'BAD_HOST'],
  ['tenant1.localhost:', 400, 'BAD_HOST'],
  ['tenant1.localhost:4000:4000', 400, 'BAD_HOST'],
  ['tenant1.localhost:99999', 400, 'BAD_HOST'],
  ['tenant1.localhost:65536', 400, 'BAD_HOST'],
  ['tenant1.localhost:0', 400, 'BAD_HOST'],
  ['tenant1..localhost', 400, 'BAD_HOST'],
  ['.tenant1.localhost', 400, 'BAD_HOST'],
  ['tenant1.localhost..', 400, 'BAD_HOST'],
  ['tenant_1.localhost', 400, 'BAD_HOST'],
  ['tenant one.localhost', 400, 'BAD_HOST'],
  ['tenant1.localhost, tenant2.localhost', 400, 'BAD_HOST'],
  ['[::1]:4000', 400, 'BAD_HOST'],
];

describe.each([
  ['app.fetch', (host: string) => viaFetch(host)],
  ['socket', (host: string) => viaSocket([`Host: ${host}`])],
] as const)('Host over %s', (_via, send) => {
  it.each(served)('%s serves tenant %i', async (host, tenantId) => {
    const answer = await send(host);
    expect(answer).toEqual({ status: 200, body: { data: { tenant: { id: tenantId } } } });
  });

  it.each(rejected)('%s answers %i %s', async (host, status, code) => {
    expectError(await send(host), status, code);
  });

  it('an empty Host is 400 BAD_HOST', async () => {
    expectError(await send(''), 400, 'BAD_HOST');
  });
});

describe('Host paths only a socket can take', () => {
  it('two Host lines are 400 BAD_HOST, whichever comes first', async () => {
    expectError(await viaSocket(['Host: tenant1.localhost', 'Host: tenant2.localhost']), 400, 'BAD_HOST');
    expectError(await viaSocket(['Host: tenant1.localhost', 'host: tenant1.localhost']), 400, 'BAD_HOST');
    expectError(await viaSocket(['Host: evil.test', 'Host: tenant1.localhost']), 400, 'BAD_HOST');
  });

  it('HTTP/1.0 without Host is 400 BAD_HOST', async () => {
    expectError(await viaSocket([], { version: '1.0' }), 400, 'BAD_HOST');
  });

  it('HTTP/1.1 without Host is 400 BAD_HOST', async () => {
    expectError(await viaSocket([]), 400, 'BAD_HOST');
  });

  it('an absolute-form target that disagrees with Host is 400 BAD_HOST (more in http-edge.test.ts)', async () => {
    const answer = await viaSocket(['Host: tenant1.localhost'], { path: 'http://tenant2.localhost/graphql' });
    expectError(answer, 400, 'BAD_HOST');
  });

  it('HTTP/1.0 with a Host is served', async () => {
    const answer = await viaSocket(['Host: tenant2.localhost'], { version: '1.0' });
    expect(answer).toEqual({ status: 200, body: { data: { tenant: { id: 3 } } } });
  });
});

describe('an unknown host never reaches GraphQL or the database', () => {
  it('a body that does not parse still gets the host answer, with no SQL', async () => {
    const before = t.queries;
    const broken = JSON.stringify({ query: '{ projects {' });
    expectError(await viaFetch('evil.test', '/graphql', broken), 404, 'TENANT_NOT_FOUND');
    expectError(await viaFetch('acme.localhost', '/graphql', broken), 403, 'TENANT_DISABLED');
    expectError(await viaFetch('a..b', '/graphql', broken), 400, 'BAD_HOST');
    expect(t.queries).toBe(before);
  });
});

// yoga also executes GraphQL on `/graphql/` and on any URL ending in `/graphql`; these once
// skipped tenancy and reached the resolvers with no tenant (500).
describe.each(['/graphql/', '/x/graphql', '/other?next=/graphql', '/graphql?x=1', '//x/graphql?x=1'])(
  'path %s',
  (path) => {
    it('is resolved like /graphql, in-process and over a socket', async () => {
      expect(await viaFetch('tenant1.localhost', path)).toEqual({
        status: 200,
        body: { data: { tenant: { id: 2 } } },
      });
      expectError(await viaFetch('evil.test', path), 404, 'TENANT_NOT_FOUND');
      expectError(await viaFetch('tenant1.localhost:abc', path), 400, 'BAD_HOST');
      const raw = await viaSocket(['Host: tenant2.localhost'], { path });
      expect(raw).toEqual({ status: 200, body: { data: { tenant: { id: 3 } } } });
      expectError(await viaSocket(['Host: a', 'Host: b'], { path }), 400, 'BAD_HOST');
    });
  },
);

describe('X-Forwarded-Host', () => {
  it('is ignored by default', async () => {
    const res = await t.gql('tenant1.localhost', '{ tenant { id } }', {
      headers: { 'x-forwarded-host': 'tenant2.localhost' },
    });
    expect(res.body).toEqual({ data: { tenant: { id: 2 } } });
    const bad = await t.gql('tenant1.localhost', '{ tenant { id } }', {
      headers: { 'x-forwarded-host': 'evil.test' },
    });
    expect(bad.body).toEqual({ data: { tenant: { id: 2 } } });
    const raw = await viaSocket(['Host: tenant1.localhost', 'X-Forwarded-Host: tenant2.localhost']);
    expect(raw).toEqual({ status: 200, body: { data: { tenant: { id: 2 } } } });
    // An unknown Host stays unknown, whatever the forwarded header claims.
    const unknown = await viaSocket(['Host: evil.test', 'X-Forwarded-Host: tenant1.localhost']);
    expectError(unknown, 404, 'TENANT_NOT_FOUND');
  });

  it('is honoured (its first entry) with TRUST_PROXY=1', async () => {
    const proxied = await TestApp.start({ env: { TRUST_PROXY: '1' } });
    try {
      const res = await proxied.gql('proxy.internal', '{ tenant { id } }', {
        headers: { 'x-forwarded-host': 'tenant2.localhost, tenant1.localhost' },
      });
      expect(res.body).toEqual({ data: { tenant: { id: 3 } } });
      const unknown = await proxied.gql('tenant1.localhost', '{ tenant { id } }', {
        headers: { 'x-forwarded-host': 'evil.test' },
      });
      expect(unknown.status).toBe(404);
      expect(unknown.body.errors?.[0]?.extensions?.code).toBe('TENANT_NOT_FOUND');

      const proxiedPort = await proxied.listen();
      const send = (lines: string[]) => rawRequest(proxiedPort, lines, { body: QUERY });
      const raw = await send(['Host: proxy.internal', 'X-Forwarded-Host: TENANT2.localhost:443']);
      expect(raw).toEqual({ status: 200, body: { data: { tenant: { id: 3 } } } });
      expectError(
        await send(['Host: tenant1.localhost', 'X-Forwarded-Host: acme.localhost']),
        403,
        'TENANT_DISABLED',
      );
    } finally {
      await proxied.close();
    }
  });
});

describe('/healthz', () => {
  it('answers on any host, even a bad one, and names no tenant', async () => {
    for (const host of ['tenant1.localhost', 'evil.test', 'acme.localhost', 'tenant1.localhost:abc', '']) {
      const answer = await viaFetch(host, '/healthz');
      expect(answer).toEqual({ status: 200, body: { status: 'ok' } });
    }
    const raw = (lines: string[], version?: string) =>
      viaSocket(lines, { path: '/healthz', body: '', ...(version ? { version } : {}) });
    expect(await raw(['Host: tenant1.localhost', 'Host: tenant2.localhost'])).toEqual({
      status: 200,
      body: { status: 'ok' },
    });
    expect(await raw([], '1.0')).toEqual({ status: 200, body: { status: 'ok' } });
    // A Host that is no URL authority once made Node's adapter throw (500 + stack trace).
    expect(await raw(['Host: tenant1.localhost:abc'])).toEqual({ status: 200, body: { status: 'ok' } });
  });
});
