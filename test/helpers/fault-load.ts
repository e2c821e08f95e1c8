import type { GraphQLResponse, TestApp } from './app.js';
import { withClient } from './db.js';

/**
 * Load and oracles for faults.test.ts: every tenant owns marker rows named `~t<ID>~`, and each
 * response is classified as ok, a clean failure, or a violation (a foreign marker or tenant id,
 * or an error that is not masked).
 */
export const marker = (tenant: number) => `~t${tenant}~`;

export const READ = '{ tenant { id } projects(first: 50) { edges { node { name } } } }';
const CODES = new Set(['INTERNAL_SERVER_ERROR', 'TIMEOUT', 'RATE_LIMITED', 'OVERLOADED']);
const LEAK = /ECONN|terminat|connection|127\.0\.0\.1|postgres|socket|SELECT|\bat\s|\.ts:|stack/i;

export interface Outcome {
  at: number;
  ms: number;
  kind: 'ok' | 'failed' | 'violation';
  detail?: string;
}

/** Inserts `count` marker projects per tenant, as the superuser (no RLS, no app). */
export async function seedMarkers(t: TestApp, tenants: number[], count = 3): Promise<void> {
  await withClient(t.db.superuserUrl, async (c) => {
    for (const tenant of tenants) {
      await c.query(
        `INSERT INTO app.projects (tenant_id, name) SELECT $1, 'marker ' || n || ' ' || $2 FROM generate_series(1, $3) n`,
        [tenant, marker(tenant), count],
      );
    }
  });
}

/**
 * ok: no errors, `tenant.id` is `expected` and every marker is its own. failed: every error is
 * masked (a known code, no driver or SQL text). Anything else is a violation.
 */
export function classify(res: GraphQLResponse, expected: number, started: number): Outcome {
  const at = performance.now();
  const outcome = (kind: Outcome['kind'], detail?: string): Outcome => ({
    at,
    ms: at - started,
    kind,
    detail,
  });
  const text = JSON.stringify(res.body);
  for (const [, id] of text.matchAll(/~t(\d+)~/g)) {
    if (Number(id) !== expected) return outcome('violation', `foreign marker on tenant ${expected}: ${text}`);
  }
  const tenantId = (res.body.data as { tenant?: { id: number } } | null | undefined)?.tenant?.id;
  if (tenantId !== undefined && tenantId !== expected)
    return outcome('violation', `tenant ${tenantId} ≠ ${expected}`);
  if (!res.body.errors?.length)
    return outcome(res.status === 200 ? 'ok' : 'violation', `status ${res.status}`);
  for (const error of res.body.errors) {
    if (!CODES.has(error.extensions?.code ?? '') || LEAK.test(error.message)) {
      return outcome('violation', `unmasked error (status ${res.status}): ${text}`);
    }
  }
  return outcome('failed', error0(res));
}

const error0 = (res: GraphQLResponse) => `${res.status} ${res.body.errors?.[0]?.extensions?.code}`;

/** `workers` loops calling `step` until `stop()` says so; every outcome is kept, in order. */
export async function hammer(
  workers: number,
  stop: () => boolean,
  step: (worker: number, i: number) => Promise<Outcome>,
): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      for (let i = 0; !stop(); i++) {
        outcomes.push(await step(worker, i));
        // A failing request returns at once; a breather keeps the loop from spinning.
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    }),
  );
  return outcomes;
}

/** createProject on `host` as `tenant`, timed and classified like every other outcome. */
export async function createProject(
  t: TestApp,
  host: string,
  tenant: number,
  token: string | undefined,
  name: string,
): Promise<Outcome> {
  const started = performance.now();
  const res = await t.gql(host, 'mutation($n: String!) { createProject(input: { name: $n }) { id name } }', {
    token,
    variables: { n: name },
  });
  return classify(res, tenant, started);
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A compact summary for assertion messages. */
export function summary(outcomes: Outcome[]): string {
  const counts = { ok: 0, failed: 0, violation: 0 };
  for (const o of outcomes) counts[o.kind]++;
  const violations = outcomes
    .filter((o) => o.kind === 'violation')
    .slice(0, 3)
    .map((o) => o.detail);
  return `${JSON.stringify(counts)} ${violations.join(' | ')}`;
}
