import { access, constants, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_JWT_SECRET } from '../../src/config.js';
import { TestApp } from '../helpers/app.js';

/**
 * A frontend developer's first minute, in a real headless Chromium: open a tenant's GraphiQL
 * on its own subdomain, run a query with the pre-filled development token, and see that
 * tenant's projects and no other's. Chromium resolves *.localhost to 127.0.0.1 by itself.
 */
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = new URL('../artifacts/', import.meta.url);
const PROJECTS = {
  tenant1: ['Apollo launch (tenant one)', 'Borealis (tenant one)'],
  tenant2: ['Cassini review (tenant two)'],
} as const;
const QUERY = '{ tenant { name } projects(first: 10) { totalCount edges { node { name } } } }';

let t: TestApp;
let port: number;
let userDataDir: string;
let browser: BrowserContext;

beforeAll(async () => {
  // Fail, never skip: the browser test is part of the contract (.ci/run installs chromium).
  await access(CHROMIUM, constants.X_OK).catch(() => {
    throw new Error(`Chromium not found at ${CHROMIUM}: install it (Debian: apt-get install chromium).`);
  });
  // JWT_SECRET unset: the development secret, so GraphiQL pre-fills a demo token.
  t = await TestApp.start({ env: { JWT_SECRET: '' } });
  for (const [subdomain, tenantId] of [
    ['tenant1', 2],
    ['tenant2', 3],
  ] as const) {
    const token = await t.token(tenantId, 'seeder', '10m', { secret: DEV_JWT_SECRET });
    for (const name of PROJECTS[subdomain]) {
      const created = await t.gql(
        `${subdomain}.localhost`,
        'mutation($name: String!) { createProject(input: { name: $name }) { id } }',
        { token, variables: { name } },
      );
      expect(created.body.errors).toBeUndefined();
    }
  }
  port = await t.listen();
  await mkdir(ARTIFACTS, { recursive: true });
  userDataDir = await mkdtemp(join(tmpdir(), 'tenantql-chromium-'));
  browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
    ],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
  await t?.close();
});

/** Runs QUERY in the tenant's GraphiQL page and returns the result pane, parsed. */
async function runInGraphiQL(subdomain: keyof typeof PROJECTS): Promise<any> {
  const page = await browser.newPage();
  try {
    const url = `http://${subdomain}.localhost:${port}/graphql?query=${encodeURIComponent(QUERY)}`;
    const response = await page.goto(url);
    expect(response?.status()).toBe(200);
    const tenantName = subdomain === 'tenant1' ? 'Tenant One' : 'Tenant Two';
    expect(await page.title()).toBe(`${tenantName} · tenantql`);
    await page.locator('.graphiql-execute-button').click({ timeout: 20_000 });
    const result = page.locator('.result-window');
    // The result pane is a Monaco editor; its text appears once the response arrives.
    await result.getByText('totalCount').waitFor({ timeout: 20_000 });
    await page.screenshot({ path: new URL(`graphiql-${subdomain}.png`, ARTIFACTS).pathname, fullPage: true });
    // Monaco renders spaces as no-break spaces.
    return JSON.parse(((await result.textContent()) ?? '').replace(/\u00a0/g, ' '));
  } finally {
    await page.close();
  }
}

describe('GraphiQL in Chromium', () => {
  it("shows tenant1's projects on tenant1.localhost, and only those", async () => {
    const result = await runInGraphiQL('tenant1');
    expect(result.data.tenant).toEqual({ name: 'Tenant One' });
    expect(result.data.projects.edges.map((e: any) => e.node.name).sort()).toEqual(
      [...PROJECTS.tenant1].sort(),
    );
  }, 60_000);

  it("shows tenant2's projects on tenant2.localhost, and only those", async () => {
    const result = await runInGraphiQL('tenant2');
    expect(result.data.tenant).toEqual({ name: 'Tenant Two' });
    expect(result.data.projects.edges.map((e: any) => e.node.name)).toEqual([...PROJECTS.tenant2]);
  }, 60_000);
});
