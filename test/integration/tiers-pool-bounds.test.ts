import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultTenants, type GraphQLResponse, TestApp } from '../helpers/app.js';
import { SLOW_TRIGGER, withClient } from '../helpers/db.js';
import { asSuperuserIn, provisionDedicated } from '../helpers/tiers.js';

// SPEC §10: "keeps the connections of all pools under PG_MAX_CONNECTIONS_TOTAL", and §7 "Load":
// a burst queues, and only past the wait deadline is a request shed with 503 OVERLOADED.
// 30 dedicated tenants, each with a `_ro` and a `_rw` pool, share a budget of 6 connections.

const DEDICATED = Array.from({ length: 30 }, (_, i) => 200 + i);
const tenants = {
  ...defaultTenants,
  tenants: [
    ...defaultTenants.tenants,
    ...DEDICATED.map((id) => ({ id, subdomain: `d${id}`, name: `Dedicated ${id}`, isolation: 'database' })),
  ],
};

const MAX_TOTAL = 10;
const WAIT_MS = 1500;
const IDLE_MS = 300;
/** PG_MAX_CONNECTIONS_TOTAL - PG_POOL_MAX - PG_POOL_RESERVE - the admin pool's 2 (config.ts). */
const DEDICATED_BUDGET = MAX_TOTAL - 2 - 0 - 2;

const CREATE = 'mutation($name: String!) { createProject(input: { name: $name }) { id name } }';
const READ = '{ projects(first: 5) { totalCount } }';
/** Shared tenants, on the runtime pool, and the system host, on the admin pool. */
const SHARED = [2, 4];
const SYSTEM = 1;
const TENANT_IDS = '{ tenants { id } }';
const HOSTS = new Map([
  [SYSTEM, 'admin.localhost'],
  [2, 'tenant1.localhost'],
  [4, 'tenant3.localhost'],
  ...DEDICATED.map((id) => [id, `d${id}.localhost`] as const),
]);

/** A request not answered by then has hung (every deadline on its path is far shorter). */
const HUNG_MS = 15_000;
/**
 * Two waves of 5 rounds; a round is a (create, read) pair of every dedicated tenant, two of each
 * shared tenant and two reads of the system host: 760 requests with the flood, 48 pairs in flight.
 */
const PAIRS_PER_WAVE = 5;
const CONCURRENCY = 48;

let t: TestApp;
let provisionMs = 0;

beforeAll(async () => {
  t = await TestApp.start({
    tenants,
    env: {
      PG_POOL_MAX: '2',
      PG_POOL_RESERVE: '0',
      PG_MAX_CONNECTIONS_TOTAL: String(MAX_TOTAL),
      PG_POOL_WAIT_TIMEOUT_MS: String(WAIT_MS),
      PG_TENANT_POOL_IDLE_MS: String(IDLE_MS),
    },
    prepare: async (db, secretsFile) => {
      const started = performance.now();
      await provisionDedicated(db, secretsFile, tenants);
      provisionMs = performance.now() - started;
      for (const id of DEDICATED) await asSuperuserIn(db, id, (c) => c.query(SLOW_TRIGGER));
    },
  });
}, 120_000);
afterAll(() => t?.close());

interface Backends {
  total: number;
  dedicated: number;
}

/** This app's backends: the shared pools in the main database, and every `<main>_t<ID>` database's. */
async function countBackends(client: pg.Client): Promise<Backends> {
  const { rows } = await client.query<Backends>(
    `SELECT count(*)::int AS total,
            count(*) FILTER (WHERE application_name ~ '^tenantql t[0-9]+ (ro|rw)$')::int AS dedicated
       FROM pg_stat_activity
      WHERE application_name LIKE 'tenantql%' AND (datname = $1 OR starts_with(datname, $2))`,
    [t.db.name, `${t.db.name}_t`],
  );
  return rows[0]!;
}

interface Outcome {
  tenantId: number;
  query: string;
  /** The project a create named. */
  name: string | undefined;
  status: number;
  code: string | undefined;
  ms: number;
  ok: boolean;
}

async function send(
  tenantId: number,
  token: string,
  query: string,
  variables?: { name: string },
): Promise<Outcome> {
  const asked = { tenantId, query, name: variables?.name };
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((resolve) => {
    timer = setTimeout(() => resolve('hung'), HUNG_MS);
  });
  const answer = await Promise.race([t.gql(HOSTS.get(tenantId)!, query, { token, variables }), hung]);
  clearTimeout(timer);
  const ms = performance.now() - started;
  if (answer === 'hung') return { ...asked, status: 0, code: 'HUNG', ms, ok: false };
  const code = answer.body.errors?.[0]?.extensions?.code;
  return {
    ...asked,
    status: answer.status,
    code,
    ms,
    ok: answerIsValid(answer),
  };
}

/** 200 with data and no error, or 503 OVERLOADED with Retry-After and nothing executed. */
function answerIsValid(answer: GraphQLResponse): boolean {
  if (answer.status === 200) return answer.body.errors === undefined && answer.body.data != null;
  return (
    answer.status === 503 &&
    answer.body.errors?.length === 1 &&
    answer.body.errors[0]?.extensions?.code === 'OVERLOADED' &&
    answer.headers.get('retry-after') !== null
  );
}

/** Runs `jobs` with at most `concurrency` at once. */
async function runBounded(jobs: (() => Promise<void>)[], concurrency: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) await jobs[next++]!();
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('dedicated pools under a small PG_MAX_CONNECTIONS_TOTAL', () => {
  it('never exceed the bound with 30 busy tenants, answer every request, and close when idle', async () => {
    const tokens = new Map(
      await Promise.all(
        [SYSTEM, ...SHARED, ...DEDICATED].map(async (id) => [id, await t.token(id)] as const),
      ),
    );
    const outcomes: Outcome[] = [];
    const samples: (Backends & { inProcess: number })[] = [];
    const started = performance.now();

    // Sampled from a superuser connection whose application_name the filter does not match.
    const sampler = new pg.Client({
      connectionString: t.db.superuserUrl,
      application_name: 'pool-bounds sampler',
    });
    await sampler.connect();
    let sampling = true;
    const sampled = (async () => {
      while (sampling) {
        samples.push({ ...(await countBackends(sampler)), inProcess: t.dedicated.usage().total });
        await sleep(20);
      }
    })();

    const create = (id: number, name: string) => send(id, tokens.get(id)!, CREATE, { name });
    const read = (id: number) => send(id, tokens.get(id)!, READ);
    // Each job: a tenant creates a project, then reads its projects. Jobs are ordered round-robin
    // over tenants, so every tenant has work in flight at once; the shared tenants and the system
    // host keep the shared pools busy meanwhile, so that the whole of the total is in use.
    const wave = (round: number) =>
      Array.from({ length: PAIRS_PER_WAVE }, (_, pair) =>
        [...SHARED, ...SHARED, ...DEDICATED].map((id, i) => async () => {
          outcomes.push(await create(id, `w${round}-p${pair}-${i}`));
          outcomes.push(await read(id));
          if (i < 2) outcomes.push(await send(SYSTEM, tokens.get(SYSTEM)!, TENANT_IDS));
        }),
      ).flat();

    let idleBetweenWaves: number | undefined;
    let shed: Outcome[] = [];
    try {
      await runBounded(wave(1), CONCURRENCY);
      // Between the waves every pool closes by idleness; the second wave opens them again.
      idleBetweenWaves = await waitForNoDedicated();
      await runBounded(wave(2), CONCURRENCY);
      // Past the deadline: every tenant at once holds a connection for 1 s, 6 at a time; those
      // still waiting after PG_POOL_WAIT_TIMEOUT_MS are shed, and write nothing.
      const flood = await Promise.all(DEDICATED.flatMap((id) => [create(id, 'slow:1000'), read(id)]));
      outcomes.push(...flood);
      shed = flood.filter((o) => o.status === 503);
    } finally {
      sampling = false;
      await sampled;
      await sampler.end();
    }
    const burstMs = performance.now() - started;
    const idleAfter = await waitForNoDedicated();

    const count = (predicate: (o: Outcome) => boolean) => outcomes.filter(predicate).length;
    const maxTotal = Math.max(...samples.map((s) => s.total));
    const maxDedicated = Math.max(...samples.map((s) => s.dedicated));
    const maxShared = Math.max(...samples.map((s) => s.total - s.dedicated));
    const figures = {
      provisionMs: Math.round(provisionMs),
      requests: outcomes.length,
      ok200: count((o) => o.status === 200),
      overloaded503: count((o) => o.status === 503),
      overloaded503InWaves: count((o) => o.status === 503) - shed.length,
      maxConnections: `${maxTotal}/${MAX_TOTAL}`,
      maxDedicated: `${maxDedicated}/${DEDICATED_BUDGET}`,
      maxShared: `${maxShared}/${MAX_TOTAL - DEDICATED_BUDGET}`,
      maxDedicatedInProcess: Math.max(...samples.map((s) => s.inProcess)),
      samples: samples.length,
      burstMs: Math.round(burstMs),
      idleBetweenWavesMs: idleBetweenWaves,
      idleAfterMs: idleAfter,
      slowest200Ms: Math.round(Math.max(...outcomes.filter((o) => o.status === 200).map((o) => o.ms))),
    };
    console.info(`tiers pool bounds: ${JSON.stringify(figures)}`);

    const perPair = (DEDICATED.length + 2 * SHARED.length) * 2 + 2;
    expect(outcomes).toHaveLength(2 * PAIRS_PER_WAVE * perPair + DEDICATED.length * 2);
    // Every request answered, and only as the contract allows.
    expect(
      outcomes.filter((o) => !o.ok).map((o) => `${o.tenantId} ${o.query}: ${o.status} ${o.code}`),
    ).toEqual([]);
    // A shed request waited out its deadline first.
    for (const o of outcomes.filter((o) => o.status === 503))
      expect(o.ms).toBeGreaterThanOrEqual(WAIT_MS - 50);
    // Most answer 200, and every tenant got its turn.
    expect(figures.ok200).toBeGreaterThanOrEqual(outcomes.length * 0.8);
    for (const id of DEDICATED)
      expect(outcomes.some((o) => o.tenantId === id && o.status === 200)).toBe(true);
    // The flood outlasted the deadline: 6 connections serve at most ~12 one-second creates in 1.5 s.
    expect(shed.length).toBeGreaterThanOrEqual(DEDICATED.length / 2);

    // The bounds, as PostgreSQL counts them.
    expect(samples.length).toBeGreaterThan(50);
    expect(maxDedicated).toBe(DEDICATED_BUDGET);
    expect(maxShared).toBeLessThanOrEqual(MAX_TOTAL - DEDICATED_BUDGET);
    expect(maxTotal).toBeLessThanOrEqual(MAX_TOTAL);

    // Idle pools close: between the waves and after the burst, no dedicated backend is left.
    expect(idleBetweenWaves).toBeDefined();
    expect(idleAfter).toBeDefined();
    expect(t.dedicated.usage().total).toBe(0);

    // A create answered 200 is committed; a shed one wrote nothing.
    for (const id of DEDICATED) {
      const names = await asSuperuserIn(t.db, id, (c) =>
        c
          .query<{ name: string }>('SELECT name FROM app.projects')
          .then((r) => r.rows.map((row) => row.name).sort()),
      );
      const created = outcomes.filter((o) => o.tenantId === id && o.query === CREATE && o.status === 200);
      expect(names).toEqual(created.map((o) => o.name).sort());
    }
  }, 40_000);
});

/** Polls until no dedicated backend of this app is left: how long that took, or undefined. */
async function waitForNoDedicated(timeoutMs = IDLE_MS * 4 + 2000): Promise<number | undefined> {
  const started = performance.now();
  return withClient(t.db.superuserUrl, async (client) => {
    while (performance.now() - started < timeoutMs) {
      if ((await countBackends(client)).dedicated === 0) return Math.round(performance.now() - started);
      await sleep(50);
    }
    return undefined;
  });
}
