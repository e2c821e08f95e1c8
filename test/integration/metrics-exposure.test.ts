import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/db/embedded.js';
import {
  defaultTenants,
  TEST_JWT_SECRET,
  TEST_MASTER_KEY,
  TEST_SERVICE_SECRET,
  TestApp,
} from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { ServerProcess } from '../helpers/server-process.js';

// SPEC §9: with NODE_ENV=production and no METRICS_TOKEN, /metrics is not served on the public
// listener; with METRICS_PORT it is served only there. Per-tenant figures never go out anonymously.
const PRODUCTION = {
  NODE_ENV: 'production',
  JWT_SECRET: TEST_JWT_SECRET,
  SERVICE_JWT_SECRET: TEST_SERVICE_SECRET,
  TENANT_MASTER_KEY: TEST_MASTER_KEY,
};

function get(port: number, path: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, headers: { host: 'tenant1.localhost', ...headers } },
      (res) => {
        let body = '';
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('/metrics in production', () => {
  it('is not served on the public listener without METRICS_TOKEN, on any host', async () => {
    const t = await TestApp.start({ env: PRODUCTION });
    try {
      // Some traffic, so there would be per-tenant series to leak.
      await t.gql('tenant1.localhost', '{ tenant { id } }');
      for (const host of ['localhost', 'tenant1.localhost', 'admin.localhost']) {
        const res = await t.app.fetch(`http://${host}/metrics`, { headers: { host } });
        expect(res.status).toBe(404);
        expect(await res.text()).not.toContain('tenantql_');
      }
    } finally {
      await t.close();
    }
  });

  it('is served with METRICS_TOKEN to the bearer of the token only', async () => {
    const t = await TestApp.start({ env: { ...PRODUCTION, METRICS_TOKEN: 'metrics-token-0123456789' } });
    try {
      const ask = (authorization?: string) =>
        t.app.fetch('http://localhost/metrics', {
          headers: { host: 'localhost', ...(authorization ? { authorization } : {}) },
        });
      expect((await ask()).status).toBe(401);
      const ok = await ask('Bearer metrics-token-0123456789');
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain('tenantql_requests_total');
    } finally {
      await t.close();
    }
  });
});

describe('METRICS_PORT', () => {
  let db: TestDatabase;
  let dir: string;
  let server: ServerProcess | undefined;
  beforeAll(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), 'tenantql-metrics-'));
    await writeFile(join(dir, 'tenants.json'), JSON.stringify(defaultTenants));
  });
  afterAll(async () => {
    await server?.stop();
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves /metrics only on its own listener, and nothing else there', async () => {
    const metricsPort = await freePort();
    server = await ServerProcess.start({
      ...PRODUCTION,
      DATABASE_URL: db.appUrl,
      DATABASE_ADMIN_URL: db.adminUrl,
      TENANTS_FILE: join(dir, 'tenants.json'),
      METRICS_PORT: String(metricsPort),
      LOG_LEVEL: 'info',
    });
    const graphql = await get(server.port, '/graphql?query=%7Btenant%7Bid%7D%7D');
    expect(graphql.body).toContain('"tenant"');
    expect(graphql.status).toBe(200);
    expect((await get(server.port, '/metrics')).status).toBe(404);

    const scraped = await get(metricsPort, '/metrics');
    expect(scraped.status).toBe(200);
    expect(scraped.body).toMatch(/^tenantql_requests_total\{.*tenant="2".*\} 1$/m);
    expect((await get(metricsPort, '/graphql')).status).toBe(404);
    expect((await get(metricsPort, '/healthz')).status).toBe(404);
  });
});
