import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { keysDatabaseOf } from '../../src/db/keys-database.js';
import { connectionUrl, roleNames } from '../../src/db/setup.js';
import { encodeGlobalId, parseGlobalId } from '../../src/graphql/ids.js';
import { withClient } from '../helpers/db.js';
import { httpRequest, openEventStream, type ServerProcess } from '../helpers/server-process.js';
import { install, pack } from './npm.js';
import { runNode, runProduct, startProduct } from './product-process.js';

/**
 * tenantql as a team uses it: `npm pack` of this repository, installed into a product folder
 * outside it, whose plain-JavaScript entry (test/package/product/) adds its own tables and
 * types through the package's public API, then runs with plain `node` against a real
 * PostgreSQL and Valkey, over real sockets with real Host headers.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./product/', import.meta.url));
const JWT_SECRET = 'package-test-user-secret-0123456789abcdef';
const SERVICE_JWT_SECRET = 'package-test-service-secret-0123456789abcdef';
const A = { id: 2, subdomain: 'tenant1', host: 'tenant1.localhost' };
const B = { id: 3, subdomain: 'tenant2', host: 'tenant2.localhost' };
const TENANTS = {
  baseDomain: 'localhost',
  tenants: [
    { id: 1, subdomain: 'admin', name: 'System' },
    { id: A.id, subdomain: A.subdomain, name: 'Tenant One' },
    { id: B.id, subdomain: B.subdomain, name: 'Tenant Two' },
  ],
};

/** The demo product's types (src/example/): a product's schema has none of them. */
const DEMO_TYPES = ['Project', 'Member', 'Task', 'TaskConnection', 'ProjectConnection', 'TaskStatus'];

let work: string;
let product: string;
let database: string;
let urls: { DATABASE_URL: string; DATABASE_ADMIN_URL: string; DATABASE_OWNER_URL: string };
let server: ServerProcess | undefined;
let env: Record<string, string>;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'tenantql-package-'));
  const packed = join(work, 'pack');
  product = join(work, 'product');
  await mkdir(packed);
  await mkdir(product);
  await writeFile(
    join(product, 'package.json'),
    JSON.stringify({ name: 'invoices-product', version: '1.0.0', private: true, type: 'module' }, null, 2),
  );
  await cp(FIXTURE, product, { recursive: true });
  await install(product, await pack(ROOT, packed));

  // A database of its own, made by the product's `db setup` (tenantql's migrations, then the
  // product's). Not a clone of the suite's template: migrations name roles after the database
  // they run in. Named under the run's prefix, so the global teardown drops what a crash left.
  database = `${inject('templateDatabase')}_pkg`;
  const setup = await runProduct(product, [
    'db',
    'setup',
    '--superuser-url',
    inject('superuserUrl'),
    '--database',
    database,
  ]);
  expect(setup.code, setup.stderr).toBe(0);
  // `NAME=url` lines, ready for an env file.
  urls = Object.fromEntries(
    setup.stdout
      .trim()
      .split('\n')
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  ) as typeof urls;
  expect(Object.keys(urls).sort()).toEqual(['DATABASE_ADMIN_URL', 'DATABASE_OWNER_URL', 'DATABASE_URL']);

  await writeFile(join(product, 'tenants.json'), JSON.stringify(TENANTS));
  env = {
    ...urls,
    VALKEY_URL: inject('valkeyUrl'),
    TENANTS_FILE: join(product, 'tenants.json'),
    JWT_SECRET,
    SERVICE_JWT_SECRET,
    LOG_LEVEL: 'info',
  };
});

afterAll(async () => {
  await server?.stop();
  if (database) {
    await withClient(inject('superuserUrl'), async (client) => {
      // `db setup` made the key store's database beside it (SPEC §12), owned by the same role.
      for (const name of [database, keysDatabaseOf(database)])
        await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
      for (const role of Object.values(roleNames(database)))
        await client.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(role)}`);
    });
  }
  if (work) await rm(work, { recursive: true, force: true });
});

// A failure over HTTP is mostly a masked INTERNAL_SERVER_ERROR: the cause is in the server's log.
beforeEach(({ onTestFailed }) => {
  onTestFailed(() => {
    if (server) console.error(`the product's log:\n${server.output.slice(-8_000)}`);
  });
});

describe('the installed package', () => {
  it('needs neither tsx nor TypeScript, and ships dist/ rather than src/', async () => {
    const modules = join(product, 'node_modules');
    expect(existsSync(join(modules, 'tsx'))).toBe(false);
    expect(existsSync(join(modules, 'typescript'))).toBe(false);
    // Nor anywhere deeper: the lock lists every package the install placed.
    const lock = JSON.parse(await readFile(join(product, 'package-lock.json'), 'utf8'));
    const placed = Object.keys(lock.packages).filter((path) =>
      /(^|\/)node_modules\/(tsx|typescript)$/.test(path),
    );
    expect(placed).toEqual([]);

    const tenantql = join(modules, 'tenantql');
    expect(existsSync(join(tenantql, 'dist', 'index.js'))).toBe(true);
    expect(existsSync(join(tenantql, 'dist', 'index.d.ts'))).toBe(true);
    expect(existsSync(join(tenantql, 'migrations'))).toBe(true);
    expect(existsSync(join(tenantql, 'src'))).toBe(false);
  });

  it('runs its bin from dist/ with plain node', async () => {
    // No src/ next to it, and no tsx to register: only the built CLI can answer.
    const { code, stdout, stderr } = await runProduct(product, ['--help'], {});
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^usage: tenantql <command>/);
    const bin = await runNode(product, join(product, 'node_modules', '.bin', 'tenantql'), ['--help'], {});
    expect(bin.code, bin.stderr).toBe(0);
    expect(bin.stdout).toMatch(/^usage: tenantql <command>/);
  });
});

describe('the product', () => {
  it("has its tables migrated by db setup, after tenantql's, with nothing left for migrate", async () => {
    const tables = await withClient(urls.DATABASE_OWNER_URL, (client) =>
      client.query<{ customers: string | null; invoices: string | null }>(
        "SELECT to_regclass('app.customers')::text AS customers, to_regclass('app.invoices')::text AS invoices",
      ),
    );
    expect(tables.rows[0]).toEqual({ customers: 'app.customers', invoices: 'app.invoices' });
    const again = await runProduct(product, ['migrate'], { DATABASE_OWNER_URL: urls.DATABASE_OWNER_URL });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.trim()).toBe('up to date');
  });

  it('passes db check, which covers its tables', async () => {
    const check = await runProduct(product, ['db', 'check'], { DATABASE_URL: urls.DATABASE_URL });
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expect(check.stdout.trim()).toBe('ok');

    // db check prints only `ok` when all is well; that it looks at the product's tables shows
    // when they break: without forced row security, it must name both.
    const force = (on: boolean) =>
      withClient(urls.DATABASE_OWNER_URL, (client) =>
        client.query(
          ['app.customers', 'app.invoices']
            .map((table) => `ALTER TABLE ${table} ${on ? '' : 'NO '}FORCE ROW LEVEL SECURITY;`)
            .join('\n'),
        ),
      );
    await force(false);
    try {
      const broken = await runProduct(product, ['db', 'check'], { DATABASE_URL: urls.DATABASE_URL });
      expect(broken.code).toBe(1);
      expect(broken.stdout).toContain('app.customers: row level security is not forced');
      expect(broken.stdout).toContain('app.invoices: row level security is not forced');
    } finally {
      await force(true);
    }
  });

  it("prints its schema with tenantql's schema command, without the demo's types", async () => {
    // The command writes schema/*.graphql under the working directory, as in a product's repository.
    await mkdir(join(product, 'schema'));
    const printed = await runProduct(product, ['schema']);
    expect(printed.code, printed.stderr).toBe(0);
    const sdl = await readFile(join(product, 'schema', 'tenant.graphql'), 'utf8');
    expect(sdl).toMatch(/^type Invoice implements Node \{/m);
    expect(sdl).toMatch(/^type Customer implements Node \{/m);
    expect(sdl).toMatch(/^type InvoiceConnection \{/m);
    for (const demo of DEMO_TYPES) expect(sdl).not.toMatch(new RegExp(`^type ${demo}\\b`, 'm'));
    expect(sdl).not.toContain('taskChanged');
  });

  it("starts and serves its schema, without the demo's types", async () => {
    server = await startProduct(product, env);
    const token = await tokenFor(A.subdomain);
    const { data, errors } = await gql(A.host, '{ __schema { types { name fields { name } } } }', token);
    expect(errors).toBeUndefined();
    const types: { name: string; fields: { name: string }[] | null }[] = data.__schema.types;
    const names = types.map((type) => type.name);
    expect(names).toEqual(expect.arrayContaining(['Invoice', 'Customer', 'InvoiceConnection', 'Node']));
    for (const demo of DEMO_TYPES) expect(names).not.toContain(demo);
    const fields = types.flatMap((type) => (type.fields ?? []).map((field) => field.name));
    expect(fields).toEqual(
      expect.arrayContaining(['invoices', 'invoice', 'createInvoice', 'createCustomer']),
    );
    expect(fields).not.toContain('taskChanged');
    expect(fields).not.toContain('projects');

    // The product's fields demand a credential (AUTHENTICATED), as tenantql's own do.
    const anonymous = await gql(A.host, '{ invoices { totalCount } }');
    expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });
});

describe('two tenants of the product', () => {
  let tokenA: string;
  let tokenB: string;
  /** Global ids, as tenant A's host answered them. */
  const a = { customer: '', otherCustomer: '', invoices: [] as string[] };
  const b = { customer: '', invoice: '' };

  beforeAll(async () => {
    if (!server) throw new Error('the product did not start (see the test above)');
    [tokenA, tokenB] = await Promise.all([tokenFor(A.subdomain), tokenFor(B.subdomain)]);
  });

  it('create customers and invoices, each in its own tenant', async () => {
    a.customer = (await createCustomer(A.host, tokenA, 'Acme GmbH', 'DE 123 456 789')).id;
    for (const amountCents of [1250, 990])
      a.invoices.push((await createInvoice(A.host, tokenA, a.customer, amountCents)).id);
    b.customer = (await createCustomer(B.host, tokenB, 'Beta Ltd')).id;
    b.invoice = (await createInvoice(B.host, tokenB, b.customer, 500)).id;
    // Created last: each tenant numbers its own rows, and A's counter is past B's, so this
    // customer's row id names no customer of B (the foreign key case below).
    a.otherCustomer = (await createCustomer(A.host, tokenA, 'Apex AG')).id;
  });

  it('tenant A reads its invoices: the connection, node(id) and invoice(id)', async () => {
    const { data, errors } = await gql(
      A.host,
      `{ invoices(first: 10) { totalCount edges { cursor node { id amountCents createdAt customer { id name } } } } }`,
      tokenA,
    );
    expect(errors).toBeUndefined();
    expect(data.invoices.totalCount).toBe(2);
    const nodes = data.invoices.edges.map((edge: any) => edge.node);
    expect(nodes.map((node: any) => node.id)).toEqual(a.invoices);
    expect(nodes.map((node: any) => node.amountCents)).toEqual([1250, 990]);
    expect(nodes[0].customer).toEqual({ id: a.customer, name: 'Acme GmbH' });
    expect(Number.isNaN(Date.parse(nodes[0].createdAt))).toBe(false);

    const first = await gql(
      A.host,
      '{ invoices(first: 1) { edges { node { id } } pageInfo { hasNextPage endCursor } } }',
      tokenA,
    );
    expect(first.data.invoices.edges[0].node.id).toBe(a.invoices[0]);
    expect(first.data.invoices.pageInfo.hasNextPage).toBe(true);
    const next = await gql(
      A.host,
      'query ($after: String) { invoices(first: 1, after: $after) { edges { node { id } } pageInfo { hasNextPage } } }',
      tokenA,
      { after: first.data.invoices.pageInfo.endCursor },
    );
    expect(next.data.invoices.edges.map((edge: any) => edge.node.id)).toEqual([a.invoices[1]]);
    expect(next.data.invoices.pageInfo.hasNextPage).toBe(false);

    const byId = await gql(
      A.host,
      'query ($id: ID!) { node(id: $id) { __typename id ... on Invoice { amountCents } } invoice(id: $id) { id } }',
      tokenA,
      { id: a.invoices[0] },
    );
    expect(byId.errors).toBeUndefined();
    expect(byId.data).toEqual({
      node: { __typename: 'Invoice', id: a.invoices[0], amountCents: 1250 },
      invoice: { id: a.invoices[0] },
    });
  });

  it("tenant B cannot read A's invoice by id", async () => {
    const { data, errors } = await gql(
      B.host,
      'query ($id: ID!) { node(id: $id) { id } invoice(id: $id) { id } }',
      tokenB,
      { id: a.invoices[0] },
    );
    expect(errors).toBeUndefined();
    expect(data).toEqual({ node: null, invoice: null });
  });

  it("stores its encrypted column as a ciphertext of A's key, which A reads and B cannot copy", async () => {
    const stored = await withClient(connectionUrl(inject('superuserUrl'), database), (client) =>
      client.query("SELECT tenant_id, c::text AS text, tax_id FROM app.customers c WHERE name = 'Acme GmbH'"),
    );
    expect(stored.rows).toHaveLength(1);
    expect(stored.rows[0].text).not.toContain('123 456');
    expect(stored.rows[0].tax_id).toMatch(/^tq1:/);
    const read = await gql(
      A.host,
      'query ($id: ID!) { node(id: $id) { ... on Customer { taxId } } }',
      tokenA,
      {
        id: a.customer,
      },
    );
    expect(read).toEqual({ data: { node: { taxId: 'DE 123 456 789' } } });
    // Copied into B's customer by someone with database access: it does not open as B's.
    await withClient(connectionUrl(inject('superuserUrl'), database), (client) =>
      client.query("UPDATE app.customers SET tax_id = $1 WHERE name = 'Beta Ltd'", [stored.rows[0].tax_id]),
    );
    const copied = await gql(
      B.host,
      'query ($id: ID!) { node(id: $id) { ... on Customer { taxId } } }',
      tokenB,
      {
        id: b.customer,
      },
    );
    expect(copied.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    expect(JSON.stringify(copied)).not.toContain('tq1:');
  });

  it("tenant B cannot invoice A's customer, and nothing is written", async () => {
    const before = await invoiceRows();
    expect(before).toHaveLength(3);

    // A's id as A's host gave it: it names tenant A, so B's host reads it as no customer.
    const foreign = await createInvoiceAnswer(B.host, tokenB, a.customer, 100);
    expect(foreign.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(foreign.data?.createInvoice ?? null).toBeNull();

    // A's row id in an id made for B: well-formed on B's host, so the insert reaches the
    // database, where the composite foreign key finds no such customer in B. That violation
    // must answer NOT_FOUND naming the type registered for app.customers.
    const forged = withTenant(a.otherCustomer, B.id);
    const lookup = await gql(B.host, 'query ($id: ID!) { node(id: $id) { id } }', tokenB, { id: forged });
    expect(lookup.data.node, 'B must not have a customer with that row id').toBeNull();
    const viaForeignKey = await createInvoiceAnswer(B.host, tokenB, forged, 100);
    expect(viaForeignKey.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(viaForeignKey.errors?.[0]?.message).toBe('Customer not found.');

    const counts = await gql(B.host, '{ invoices { totalCount edges { node { id } } } }', tokenB);
    expect(counts.data.invoices.totalCount).toBe(1);
    expect(counts.data.invoices.edges.map((edge: any) => edge.node.id)).toEqual([b.invoice]);
    // Every tenant's rows, read past row security: exactly as before.
    expect(await invoiceRows()).toEqual(before);
  });
});

describe("the product's own subscription", () => {
  it("delivers tenant A's new invoice to A's stream, and never B's", async () => {
    const [tokenA, tokenB] = await Promise.all([tokenFor(A.subdomain), tokenFor(B.subdomain)]);
    const stream = openStream(A.host, tokenA, 'subscription { invoiceCreated { id amountCents } }');
    try {
      // Subscribed once the server holds the tenant's channel.
      const redis = new Redis(inject('valkeyUrl'));
      try {
        await expect
          .poll(async () => ((await redis.pubsub('NUMSUB', '{t2}:events:invoices')) as [string, number])[1], {
            timeout: 10_000,
          })
          .toBe(1);
      } finally {
        redis.disconnect();
      }
      const customerB = (await createCustomer(B.host, tokenB, 'Gamma SA')).id;
      await createInvoice(B.host, tokenB, customerB, 7);
      const customerA = (await createCustomer(A.host, tokenA, 'Delta KG')).id;
      const invoice = await createInvoice(A.host, tokenA, customerA, 4200);
      expect(await stream.firstEvent).toEqual({
        data: { invoiceCreated: { id: invoice.id, amountCents: 4200 } },
      });
    } finally {
      stream.close();
    }
  });
});

/** An SSE subscription over a socket; `firstEvent` is the payload of its first `next` event. */
function openStream(host: string, token: string, query: string) {
  const NEXT = 'event: next\ndata: ';
  let resolveFirst: (payload: unknown) => void = () => {};
  const firstEvent = new Promise<unknown>((resolve) => {
    resolveFirst = resolve;
  });
  const stream = openEventStream(server!.port, { host, token, query }, (text) => {
    const frame = text.split('\n\n').find((f) => f.startsWith(NEXT));
    if (frame) resolveFirst(JSON.parse(frame.slice(NEXT.length)));
  });
  // A stream that ends (or fails) before its first event fails the test with what it said.
  const ended = stream.ended.then((text) => {
    throw new Error(`the stream ended without an event: ${text}`);
  });
  ended.catch(() => {});
  return { firstEvent: Promise.race([firstEvent, ended]), close: stream.close };
}

/** A user token from the product's own `token` command. */
async function tokenFor(subdomain: string): Promise<string> {
  const { code, stdout, stderr } = await runProduct(
    product,
    ['token', '--tenant', subdomain, '--sub', 'alice'],
    {
      JWT_SECRET,
      TENANTS_FILE: env.TENANTS_FILE!,
    },
  );
  expect(code, stderr).toBe(0);
  return stdout.trim();
}

interface Answer {
  data?: any;
  errors?: { message: string; extensions?: { code?: string } }[];
}

/** One GraphQL POST to the product over a socket, with `host` as the Host header. */
async function gql(host: string, query: string, token?: string, variables?: object): Promise<Answer> {
  const answer = await httpRequest(server!.port, {
    host,
    body: JSON.stringify({ query, variables }),
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  expect(answer.status, answer.body).toBeLessThan(500);
  return JSON.parse(answer.body) as Answer;
}

async function createCustomer(
  host: string,
  token: string,
  name: string,
  taxId?: string,
): Promise<{ id: string }> {
  const { data, errors } = await gql(
    host,
    'mutation ($name: String!, $taxId: String) { createCustomer(input: { name: $name, taxId: $taxId }) { id name taxId } }',
    token,
    { name, taxId },
  );
  expect(errors).toBeUndefined();
  expect(data.createCustomer).toMatchObject({ name, taxId: taxId ?? null });
  return data.createCustomer;
}

function createInvoiceAnswer(host: string, token: string, customerId: string, amountCents: number) {
  return gql(
    host,
    `mutation ($customerId: ID!, $amountCents: Int!) {
       createInvoice(input: { customerId: $customerId, amountCents: $amountCents }) {
         id amountCents customer { id }
       }
     }`,
    token,
    { customerId, amountCents },
  );
}

async function createInvoice(host: string, token: string, customerId: string, amountCents: number) {
  const { data, errors } = await createInvoiceAnswer(host, token, customerId, amountCents);
  expect(errors).toBeUndefined();
  expect(data.createInvoice).toMatchObject({ amountCents, customer: { id: customerId } });
  return data.createInvoice as { id: string };
}

/** The same type and row id as `globalId`, in another tenant. */
function withTenant(globalId: string, tenantId: number): string {
  const parsed = parseGlobalId(globalId);
  if (!parsed) throw new Error(`${globalId} is not a global id`);
  return encodeGlobalId(parsed.typename, tenantId, parsed.id);
}

/** Every invoice of every tenant, as the superuser reads them (row security does not apply). */
async function invoiceRows() {
  const { rows } = await withClient(connectionUrl(inject('superuserUrl'), database), (client) =>
    client.query('SELECT tenant_id, id, customer_id, amount_cents FROM app.invoices ORDER BY 1, 2'),
  );
  return rows;
}
