import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultTenants, TestApp } from '../helpers/app.js';

const page = (t: TestApp, host: string) =>
  t.app.fetch(`http://${host}/graphql`, { headers: { host, accept: 'text/html' } });
const bearer = (html: string) => html.match(/Bearer (ey[\w-]+\.[\w-]+\.[\w-]+)/)?.[1];

describe('GraphiQL with a configured JWT_SECRET', () => {
  let t: TestApp;
  beforeAll(async () => {
    const tenants = structuredClone(defaultTenants);
    tenants.tenants.push({ id: 5, subdomain: 'evil', name: '</title><script>alert(1)</script> & "$&"' });
    t = await TestApp.start({ tenants });
  });
  afterAll(() => t.close());

  it("serves the tenant's GraphiQL with its name in the title and no token", async () => {
    const res = await page(t, 'tenant1.localhost');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const html = await res.text();
    expect(html).toContain('<title>Tenant One · tenantql</title>');
    expect(html).toContain('YogaGraphiQL');
    expect(html).not.toContain('unpkg.com'); // self-contained: works without internet
    expect(bearer(html)).toBeUndefined();
  });

  it('escapes a tenant name in the title and in the page script', async () => {
    const html = await (await page(t, 'evil.localhost')).text();
    expect(html).toContain(
      '<title>&#60;/title&#62;&#60;script&#62;alert(1)&#60;/script&#62; &#38; &#34;$&#38;&#34; · tenantql</title>',
    );
    expect(html).not.toContain('<script>alert(1)');
    expect(html).toContain('\\u003c/title>\\u003cscript>alert(1)\\u003c/script> & \\"$&\\" · tenantql');
  });

  it('gives unknown, disabled and malformed hosts their error, not a page', async () => {
    const unknown = await page(t, 'nobody.localhost');
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ errors: [{ extensions: { code: 'TENANT_NOT_FOUND' } }] });
    const disabled = await page(t, 'acme.localhost');
    expect(disabled.status).toBe(403);
    expect(await disabled.json()).toMatchObject({ errors: [{ extensions: { code: 'TENANT_DISABLED' } }] });
  });
});

describe('GraphiQL with the development secret', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await TestApp.start({ env: { JWT_SECRET: '' } }); // unset: the built-in development secret
  });
  afterAll(() => t.close());

  it('pre-fills an Authorization header with a demo token for that tenant only', async () => {
    expect(t.config.jwt.devSecret).toBe(true);
    const token1 = bearer(await (await page(t, 'tenant1.localhost')).text());
    const token2 = bearer(await (await page(t, 'tenant2.localhost')).text());
    expect(token1).toBeDefined();
    expect(token2).toBeDefined();
    const claims = JSON.parse(Buffer.from(token1!.split('.')[1]!, 'base64url').toString());
    expect(claims).toMatchObject({ tid: 2, sub: 'demo-user' });

    const own = await t.gql('tenant1.localhost', '{ viewer { kind tenantId } }', { token: token1 });
    expect(own.body.data).toEqual({ viewer: { kind: 'USER', tenantId: 2 } });
    const other = await t.gql('tenant1.localhost', '{ viewer { kind } }', { token: token2 });
    expect(other.status).toBe(403);
    expect(other.body.errors?.[0]?.extensions?.code).toBe('TENANT_MISMATCH');
  });
});

describe('GraphiQL in production', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await TestApp.start({ env: { NODE_ENV: 'production' } });
  });
  afterAll(() => t.close());

  it('is off', async () => {
    const res = await page(t, 'tenant1.localhost');
    expect(res.headers.get('content-type') ?? '').not.toContain('text/html');
    expect(await res.text()).not.toContain('YogaGraphiQL');
  });
});
