import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestApp } from '../helpers/app.js';
import { withClient } from '../helpers/db.js';

// A slow SQL path that exists only in this test's database: inserting a project named
// `slow…` sleeps 3 s, longer than tenant2's statementTimeoutMs (1000).
const SLOW_TRIGGER = `
  CREATE FUNCTION app.test_slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    IF NEW.name LIKE 'slow%' THEN PERFORM pg_sleep(3); END IF;
    RETURN NEW;
  END $$;
  CREATE TRIGGER test_slow_insert BEFORE INSERT ON app.projects
    FOR EACH ROW EXECUTE FUNCTION app.test_slow_insert();`;

const CREATE = 'mutation($n: String!) { createProject(input: { name: $n }) { id } }';

let t: TestApp;
beforeAll(async () => {
  // 4 connections any tenant may fill, and a reserve of 2 for a tenant below its fair share.
  t = await TestApp.start({ env: { PG_POOL_MAX: '4', PG_POOL_RESERVE: '2' } });
  await withClient(t.db.ownerUrl, (c) => c.query(SLOW_TRIGGER));
});
afterAll(() => t.close());

async function projectNames(tenantId: number): Promise<string[]> {
  return withClient(t.db.superuserUrl, async (c) => {
    const { rows } = await c.query('SELECT name FROM app.projects WHERE tenant_id = $1', [tenantId]);
    return rows.map((r) => r.name as string);
  });
}

describe('a tenant cannot starve the others', () => {
  it("ends a runaway statement with TIMEOUT at the tenant's statementTimeoutMs and writes nothing", async () => {
    const started = performance.now();
    const res = await t.gql('tenant2.localhost', CREATE, {
      token: await t.token(3),
      variables: { n: 'slow-one' },
    });
    expect(res.body.errors?.[0]?.extensions?.code).toBe('TIMEOUT');
    expect(performance.now() - started).toBeLessThan(2_500);
    expect(await projectNames(3)).not.toContain('slow-one');
  });

  it('a timeout in the first mutation ends the request with TIMEOUT and writes none of it', async () => {
    const res = await t.gql(
      'tenant2.localhost',
      'mutation { a: createProject(input: { name: "slow-a" }) { id } b: createProject(input: { name: "b" }) { id } }',
      { token: await t.token(3) },
    );
    // Mutation fields are non-null and run in order, so the timeout ends the whole operation.
    expect(res.body.errors?.map((e) => e.extensions?.code)).toEqual(['TIMEOUT']);
    expect(res.body.data).toBeNull();
    expect(await projectNames(3)).not.toContain('b');
  });

  it('keeps serving tenant1 while tenant2 floods slow requests', async () => {
    const floodToken = await t.token(3);
    const flood = Array.from({ length: 12 }, (_, i) =>
      t.gql('tenant2.localhost', CREATE, { token: floodToken, variables: { n: `slow-${i}` } }),
    );
    const token = await t.token(2);
    const latencies: number[] = [];
    for (let i = 0; i < 10; i++) {
      const started = performance.now();
      const res = await t.gql('tenant1.localhost', CREATE, { token, variables: { n: `fast-${i}` } });
      latencies.push(performance.now() - started);
      expect(res.body.errors).toBeUndefined();
    }
    // tenant2 holds all 4 connections for a second at a time; tenant1 takes a reserve one.
    expect(Math.max(...latencies)).toBeLessThan(800);

    // The flood queued for the whole pool (12 requests, 4 at a time, 1 s each: within the 3 s
    // wait deadline) and each ended at its own statement timeout; none was refused for load.
    const codes = (await Promise.all(flood)).map((r) => r.body.errors?.[0]?.extensions?.code);
    expect(codes).toEqual(Array.from({ length: 12 }, () => 'TIMEOUT'));
    expect((await projectNames(2)).filter((n) => n.startsWith('fast-'))).toHaveLength(10);
    expect((await projectNames(3)).filter((n) => n.startsWith('slow'))).toHaveLength(0);
  });
});
