import { type App, createApp } from '../../src/app.js';
import { createTokenVerifier } from '../../src/auth/verify.js';
import { demoAdminSchema } from '../../src/example/admin.js';
import { demoSchema } from '../../src/example/schema.js';
import type { FastPathOutcome } from '../../src/fastpath/index.js';
import type { TestApp } from './app.js';
import { withClient } from './db.js';

/**
 * A second app over a TestApp's own database, pools and tenants, with the fast path off: the
 * slow path (the resolvers) to compare the fast path's answers with, byte for byte.
 */
export function resolversTwin(t: TestApp, onQuery?: () => void): App {
  return twinOf(t, { fastPath: false, onQuery });
}

/** Like TestApp's own app (the fast path on), telling `onFastPath` how it took each operation. */
export function observedTwin(
  t: TestApp,
  onFastPath: (outcome: FastPathOutcome) => void,
  onQuery?: () => void,
): App {
  return twinOf(t, { fastPath: true, onFastPath, onQuery });
}

function twinOf(
  t: TestApp,
  options: { fastPath: boolean; onFastPath?: (outcome: FastPathOutcome) => void; onQuery?: () => void },
): App {
  return createApp({
    schema: demoSchema,
    adminSchema: demoAdminSchema,
    config: t.config,
    logger: t.logger,
    registry: t.registry,
    pool: t.pool,
    adminPool: t.adminPool,
    dedicated: t.dedicated,
    isolationOf: (tenantId) => t.tiers.isolationOf(tenantId),
    verifier: createTokenVerifier(t.config),
    dataKeys: t.dataKeys,
    ...options,
  });
}

export interface RawResponse {
  status: number;
  contentType: string | null;
  body: string;
}

/** POSTs an operation and keeps the body as the bytes the server wrote. */
export async function post(
  app: App,
  host: string,
  query: string,
  options: { headers?: Record<string, string>; variables?: object; operationName?: string } = {},
): Promise<RawResponse> {
  return send(
    app,
    host,
    JSON.stringify({ query, variables: options.variables, operationName: options.operationName }),
    options.headers,
  );
}

/** POSTs `body` as it is (a batch is an array), or GETs `?query=` when `body` is a URLSearchParams. */
export async function send(
  app: App,
  host: string,
  body: string | URLSearchParams,
  extraHeaders: Record<string, string> = {},
): Promise<RawResponse> {
  const headers: Record<string, string> = { 'content-type': 'application/json', host, ...extraHeaders };
  const response =
    typeof body === 'string'
      ? await app.fetch(`http://${host}/graphql`, { method: 'POST', headers, body })
      : await app.fetch(`http://${host}/graphql?${body}`, { method: 'GET', headers });
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    body: Buffer.from(await response.arrayBuffer()).toString('utf8'),
  };
}

/**
 * Demo rows with what tends to break a JSON writer: quotes, backslashes, control characters,
 * non-ASCII, empty strings, tasks without an assignee, every status, timestamps with
 * microseconds, and a few hundred rows so that pages fill. Tenants 2 and 3 get different data.
 */
export async function seedVariety(superuserUrlOf: (tenantId: number) => string): Promise<void> {
  for (const [tenant, projects, tasks] of [
    [2, 7, 6],
    [3, 24, 11],
    [4, 1, 0],
  ] as const) {
    await withClient(superuserUrlOf(tenant), async (client) => {
      await client.query(
        `INSERT INTO app.members (tenant_id, name, email)
         SELECT $1::int, (ARRAY['Ada "the first" Lovelace', E'Grace\\\\Hopper', E'tab\\tnew\\nline', 'Zoë ünïcödé ✓ 𝄞', '', E'ctl\\x01\\x1f'])[1 + n % 6] || ' ' || n,
                'm' || n || '@t' || $1::int || '.test'
           FROM generate_series(1, 6) n`,
        [tenant],
      );
      await client.query(
        `WITH p AS (
           INSERT INTO app.projects (tenant_id, name, created_at)
           SELECT $1::int, 'project ' || n || (CASE WHEN n % 3 = 0 THEN E' "q" \\\\ /' ELSE '' END),
                  timestamptz '2026-11-23 12:36:03.123456+00' + n * interval '1 day 1.0017 second'
             FROM generate_series(1, $2::int) n RETURNING id),
         m AS (SELECT array_agg(id ORDER BY id) AS ids FROM app.members WHERE tenant_id = $1)
         INSERT INTO app.tasks (tenant_id, project_id, title, assignee_id, status, created_at, updated_at)
         SELECT $1::int, p.id, 'task ' || k || ' of ' || p.id,
                CASE WHEN k % 4 = 0 THEN NULL ELSE m.ids[1 + k % 6] END,
                (ARRAY['TODO', 'IN_PROGRESS', 'DONE'])[1 + k % 3],
                timestamptz '2025-01-01 00:00:00+00' + k * interval '37 minutes 0.000999 second',
                timestamptz '2025-06-01 00:00:00.9999+00' + p.id * interval '1 hour'
           FROM p, m, generate_series(1, $3::int) k`,
        [tenant, projects, tasks],
      );
    });
  }
}
