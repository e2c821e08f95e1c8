import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';
import { TestApp } from '../helpers/app.js';

/** Every JSON line the app logged, as text (for grepping) and parsed (for fields). */
class CapturedLog {
  text = '';
  write(chunk: string) {
    this.text += chunk;
  }
  get lines(): Record<string, any>[] {
    return this.text
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line));
  }
  requestLine(requestId: string) {
    return this.lines.find((l) => l.msg === 'request' && l.requestId === requestId);
  }
}

const log = new CapturedLog();
let t: TestApp;
beforeAll(async () => {
  t = await TestApp.start({ logger: createLogger({ level: 'info', pretty: false, destination: log }) });
});
afterAll(() => t.close());

async function metrics(host = 'localhost', headers: Record<string, string> = {}) {
  const response = await t.app.fetch(`http://${host}/metrics`, { headers: { host, ...headers } });
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
}

describe('request log', () => {
  it('writes one line per request with request id, tenant, operation, status and duration', async () => {
    const token = await t.token(2);
    const res = await t.gql('tenant1.localhost', 'query ListProjects { projects { totalCount } }', {
      token,
      headers: { 'x-request-id': 'req-abc-123' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('req-abc-123');
    const line = log.requestLine('req-abc-123');
    expect(line).toMatchObject({
      level: 30,
      msg: 'request',
      tenantId: 2,
      principal: 'USER',
      operationType: 'query',
      operationName: 'ListProjects',
      status: 200,
      outcome: 'ok',
      path: '/graphql',
    });
    expect(typeof line?.durationMs).toBe('number');
    expect(log.lines.filter((l) => l.requestId === 'req-abc-123' && l.msg === 'request')).toHaveLength(1);
  });

  it('generates a request id when the client sends none, and echoes it', async () => {
    const res = await t.gql('tenant2.localhost', '{ tenant { id } }');
    const id = res.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(log.requestLine(id!)).toMatchObject({ tenantId: 3, principal: 'ANONYMOUS', outcome: 'ok' });
  });

  it('records error codes and rejected requests', async () => {
    const token = await t.token(2);
    const missing = await t.gql(
      'tenant1.localhost',
      'mutation Gone { deleteProject(id: "UHJvamVjdDo5OTk5") }',
      {
        token,
        headers: { 'x-request-id': 'req-missing' },
      },
    );
    expect(missing.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(log.requestLine('req-missing')).toMatchObject({
      status: 200,
      outcome: 'error',
      operationType: 'mutation',
      operationName: 'Gone',
      errors: ['NOT_FOUND'],
    });

    const unknown = await t.gql('nobody.localhost', '{ tenant { id } }', {
      headers: { 'x-request-id': 'req-404' },
    });
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('x-request-id')).toBe('req-404');
    expect(log.requestLine('req-404')).toMatchObject({
      status: 404,
      outcome: 'rejected',
      operationType: 'none',
    });
    expect(log.requestLine('req-404')?.tenantId).toBeUndefined();
  });

  it('never logs a token or an API key, even from failing requests', async () => {
    const token = await t.token(2);
    const created = await t.gql<{ createApiKey: { secret: string } }>(
      'tenant1.localhost',
      'mutation { createApiKey(input: { name: "log test" }) { secret } }',
      { token },
    );
    expect(created.body.errors).toBeUndefined();
    const secret = created.body.data!.createApiKey.secret;
    expect(secret.length).toBeGreaterThan(20);

    const withKey = await t.gql('tenant1.localhost', '{ viewer { kind } }', {
      headers: { authorization: `ApiKey ${secret}` },
    });
    expect(withKey.body.data).toEqual({ viewer: { kind: 'API_KEY' } });
    // The same key on another tenant's host, a wrong key, a token for another tenant, a broken token.
    expect(
      (
        await t.gql('tenant2.localhost', '{ viewer { kind } }', {
          headers: { authorization: `ApiKey ${secret}` },
        })
      ).status,
    ).toBe(401);
    expect(
      (
        await t.gql('tenant1.localhost', '{ viewer { kind } }', {
          headers: { authorization: `ApiKey ${secret}x` },
        })
      ).status,
    ).toBe(401);
    expect((await t.gql('tenant2.localhost', '{ viewer { kind } }', { token })).status).toBe(403);
    expect((await t.gql('tenant1.localhost', '{ viewer { kind } }', { token: `${token}x` })).status).toBe(
      401,
    );

    const text = log.text;
    expect(text.length).toBeGreaterThan(0);
    const signature = token.split('.')[2]!;
    expect(text).not.toContain(token);
    expect(text).not.toContain(signature);
    expect(text).not.toContain(secret);
    expect(text).not.toMatch(/Bearer\s+ey/);
    expect(text).not.toMatch(/ApiKey\s+\S/);
    // The requests above were logged, just without credentials.
    expect(log.lines.filter((l) => l.msg === 'request' && l.status === 401).length).toBeGreaterThanOrEqual(3);
  });
});

describe('/metrics', () => {
  it('serves Prometheus text on any host, with requests by status, operation and tenant', async () => {
    await t.gql('tenant1.localhost', '{ tenant { id } }');
    await t.gql('tenant1.localhost', 'mutation { createProject(input: { name: "m" }) { id } }', {
      token: await t.token(2),
    });
    await t.gql('nobody.localhost', '{ tenant { id } }');
    await t.gql('tenant1.localhost', '{ viewer { roles } }'); // not compiled: the resolvers answer
    for (const host of ['localhost', 'tenant1.localhost', 'anything.example']) {
      const m = await metrics(host);
      expect(m.status).toBe(200);
      expect(m.type).toContain('text/plain');
    }
    const { text } = await metrics();
    expect(text).toMatch(/^tenantql_requests_total\{status="200",operation="query",tenant="2"\} \d+$/m);
    expect(text).toMatch(
      /^tenantql_requests_total\{status="200",operation="mutation",tenant="2"\} [1-9]\d*$/m,
    );
    expect(text).toMatch(/^tenantql_requests_total\{status="404",operation="none",tenant="none"\} \d+$/m);
    expect(text).toMatch(
      /^tenantql_request_duration_seconds_bucket\{le="0\.1",operation="query",tenant="2"\} \d+$/m,
    );
    expect(text).toMatch(/^tenantql_db_pool_connections\{pool="runtime",state="idle"\} \d+$/m);
    expect(text).toMatch(/^tenantql_db_pool_connections\{pool="runtime",state="in_use"\} 0$/m);
    expect(text).toMatch(/^tenantql_db_pool_waiting\{pool="runtime"\} 0$/m);
    expect(text).toMatch(/^tenantql_tenants\{kind="regular"\} 4$/m);
    expect(text).toContain('# TYPE tenantql_cache_lookups_total counter');
    expect(text).toContain('# TYPE tenantql_rate_limited_total counter');
    expect(text).toMatch(/^tenantql_fast_path_operations_total\{outcome="answered"\} [1-9]\d*$/m);
    expect(text).toMatch(/^tenantql_fast_path_operations_total\{outcome="declined"\} [1-9]\d*$/m);
    // Scrapes and probes are not GraphQL requests.
    expect(text).not.toMatch(/path="\/metrics"/);
  });

  it('counts tenant reloads by outcome, and times them', async () => {
    const good = await t.registry.reload();
    expect(good.ok).toBe(true);
    await t.writeTenants('{ not json');
    const bad = await t.registry.reload();
    expect(bad.ok).toBe(false);
    const { text } = await metrics();
    expect(text).toMatch(/^tenantql_tenant_reloads_total\{outcome="success"\} 1$/m);
    expect(text).toMatch(/^tenantql_tenant_reloads_total\{outcome="failure"\} 1$/m);
    expect(text).toMatch(/^tenantql_tenant_reload_duration_seconds_count 2$/m);
    const sum = Number(text.match(/^tenantql_tenant_reload_duration_seconds_sum (\S+)$/m)?.[1]);
    expect(sum).toBeCloseTo((good.durationMs + bad.durationMs) / 1000, 6);
    expect(good.durationMs).toBeGreaterThan(0);
  });
});

describe('/metrics with METRICS_TOKEN', () => {
  let gated: TestApp;
  beforeAll(async () => {
    gated = await TestApp.start({ env: { METRICS_TOKEN: 'metrics-token-0123456789' } });
  });
  afterAll(() => gated.close());

  it('answers 401 without the token and 200 with it', async () => {
    const get = (headers: Record<string, string>) =>
      gated.app.fetch('http://localhost/metrics', { headers: { host: 'localhost', ...headers } });
    expect((await get({})).status).toBe(401);
    expect((await get({ authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await get({ authorization: 'Bearer metrics-token-0123456789x' })).status).toBe(401);
    const ok = await get({ authorization: 'Bearer metrics-token-0123456789' });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('tenantql_requests_total');
  });
});
