import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { createTokenVerifier } from '../../src/auth/verify.js';
import { demoAdminSchema } from '../../src/example/admin.js';
import { demoSchema } from '../../src/example/schema.js';
import { silentLogger } from '../../src/observability/logger.js';
import { TestApp } from '../helpers/app.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

let proxy: TcpProxy;
let t: TestApp;
beforeAll(async () => {
  const pg = new URL(inject('superuserUrl'));
  proxy = await TcpProxy.start({ host: pg.hostname, port: Number(pg.port || 5432) });
  t = await TestApp.start({ poolUrl: (url) => proxy.url(url) });
});
afterAll(async () => {
  proxy.mode = 'forward';
  await t.close();
  await proxy.close();
});

async function probe(path: '/readyz' | '/healthz', host = 'tenant1.localhost') {
  const started = performance.now();
  const response = await t.app.fetch(`http://${host}${path}`, { headers: { host } });
  return {
    status: response.status,
    body: (await response.json()) as Record<string, unknown>,
    ms: performance.now() - started,
  };
}

describe('/readyz', () => {
  it('is ready while PostgreSQL answers, on any host, naming no tenant', async () => {
    for (const host of ['tenant1.localhost', 'localhost', 'unknown.example']) {
      const ready = await probe('/readyz', host);
      expect(ready.status).toBe(200);
      expect(ready.body).toEqual({ status: 'ready', database: 'ok', valkey: 'disabled' });
    }
    expect((await probe('/healthz')).body).toEqual({ status: 'ok' });
  });

  it('turns unready when PostgreSQL refuses connections, and ready again when it is back', async () => {
    proxy.mode = 'refuse';
    const down = await probe('/readyz');
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({ status: 'unready', database: 'unreachable' });
    expect((await probe('/healthz')).status).toBe(200); // the process itself is fine

    proxy.mode = 'forward';
    const up = await probe('/readyz');
    expect(up.status).toBe(200);
    expect(up.body).toMatchObject({ status: 'ready', database: 'ok' });
  });

  it('answers 503 within its bound when PostgreSQL hangs, without piling up connections', async () => {
    await probe('/readyz'); // an idle pooled connection, which is about to hang
    proxy.mode = 'blackhole';
    const probes = await Promise.all(Array.from({ length: 5 }, () => probe('/readyz')));
    for (const p of probes) {
      expect(p.status).toBe(503);
      expect(p.body).toMatchObject({ database: 'unreachable' });
      expect(p.ms).toBeLessThan(3_500);
    }
    // The probes shared one check; the hung connection was dropped, not kept in the pool.
    await new Promise((r) => setTimeout(r, 100));
    expect(t.pool.totalCount - t.pool.idleCount).toBeLessThanOrEqual(1);

    proxy.mode = 'forward';
    const up = await probe('/readyz');
    expect(up.status).toBe(200);
    // And tenant traffic works again through the same pool.
    const res = await t.gql('tenant1.localhost', '{ projects { totalCount } }', { token: await t.token(2) });
    expect(res.body).toEqual({ data: { projects: { totalCount: 0 } } });
  });

  it('fails as soon as shutdown begins, while PostgreSQL is still fine', async () => {
    let shuttingDown = false;
    const app = createApp({
      schema: demoSchema,
      adminSchema: demoAdminSchema,
      config: t.config,
      logger: silentLogger,
      registry: t.registry,
      pool: t.pool,
      verifier: createTokenVerifier(t.config),
      dataKeys: t.dataKeys,
      shuttingDown: () => shuttingDown,
    });
    const readyz = () => app.fetch('http://localhost/readyz', { headers: { host: 'localhost' } });
    expect((await readyz()).status).toBe(200);
    shuttingDown = true;
    const res = await readyz();
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: 'shutting-down' });
  });
});
