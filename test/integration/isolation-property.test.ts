import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultTenants, TestApp } from '../helpers/app.js';
import {
  CreateMember,
  CreateProject,
  CreateTask,
  Delete,
  type Pick,
  UpdateProject,
  UpdateTask,
  type Who,
} from '../helpers/isolation-commands.js';
import { checkEvents, closeSubscriptions, Subscribe } from '../helpers/isolation-events.js';
import {
  emptyModel,
  type Principal,
  type Real,
  resetDatabase,
  TENANTS,
  type WrongCredential,
} from '../helpers/isolation-model.js';
import { Burst, List, ReadById, WrongCredential as WrongCredentialStep } from '../helpers/isolation-reads.js';
import { provisionDedicated } from '../helpers/tiers.js';
import { OwnServer } from '../helpers/valkey.js';

/**
 * Model-based isolation test (fast-check): random sequences of creates, updates, deletes, reads
 * by id, lists, paginations and subscriptions, by random principals (user tokens, service tokens
 * of virtual tenant 81 on the hosts it is granted, API keys) on random hosts of tenants 2, 3
 * and 4 (3 in a database of its own, the others shared: SPEC §10), against the real app with its Valkey response cache and pub/sub; the model is a map
 * tenant -> rows (+ the task events each tenant's subscribers must get). After every step: only
 * own markers and rows, model and server agree, another tenant's id answers exactly like a
 * missing one; after every run each subscription got exactly its tenant's events.
 *
 * CI: as many runs as fit in FC_BUDGET_MS (default 15 s). SOAK=1: 10 minutes, longer sequences.
 * A failure prints the seed, the path and the shrunk command sequence with its replayPath;
 * replay it with FC_SEED=<seed> FC_PATH=<path> FC_REPLAY_PATH=<replayPath>. Each run starts from
 * empty tables (plus one marker row of each kind per tenant) and an empty Valkey.
 */
const SOAK = process.env.SOAK === '1';
const BUDGET_MS = SOAK ? 600_000 : Number(process.env.FC_BUDGET_MS ?? 15_000);
const SHRINK_MS = 60_000;
const SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : Date.now() % 2_147_483_647;

const who: fc.Arbitrary<Who> = fc.record({
  tenant: fc.constantFrom(...TENANTS),
  host: fc.nat(3),
  principal: fc.nat(2),
});
// Mostly this tenant's own ids (so writes succeed and build state), often anyone's.
const pick: fc.Arbitrary<Pick> = fc.record({
  own: fc.oneof({ arbitrary: fc.constant(true), weight: 2 }, { arbitrary: fc.constant(false), weight: 1 }),
  back: fc.oneof({ arbitrary: fc.nat(1), weight: 3 }, { arbitrary: fc.nat(6), weight: 1 }),
});
const subscribe = fc.tuple(who, fc.option(pick, { freq: 2 })).map(([w, p]) => new Subscribe(w, p));
const createTask = fc.tuple(who, pick, fc.option(pick)).map(([w, p, a]) => new CreateTask(w, p, a));
const commandArbs = [
  who.map((w) => new CreateProject(w)),
  who.map((w) => new CreateMember(w)),
  createTask,
  createTask,
  fc.tuple(who, pick).map(([w, p]) => new UpdateProject(w, p)),
  fc
    .tuple(
      who,
      pick,
      fc.option(fc.constantFrom('TODO', 'IN_PROGRESS', 'DONE')),
      fc.option(fc.oneof(fc.constant('unassign' as const), pick)),
    )
    .map(([w, p, s, a]) => new UpdateTask(w, p, s, a)),
  fc
    .tuple(who, fc.constantFrom('Project' as const, 'Task' as const), pick)
    .map(([w, k, p]) => new Delete(w, k, p)),
  fc
    .tuple(who, fc.constantFrom('Project' as const, 'Task' as const, 'Member' as const), fc.boolean(), pick)
    .map(([w, k, node, p]) => new ReadById(w, k, node, p)),
  fc
    .tuple(who, fc.constantFrom('projects' as const, 'members' as const), fc.constantFrom(1, 2, 3, 100))
    .map(([w, k, n]) => new List(w, k, n)),
  fc.array(who, { minLength: 2, maxLength: 6 }).map((ws) => new Burst(ws)),
  fc.tuple(who, fc.nat(3)).map(([w, i]) => new WrongCredentialStep(w, i)),
  subscribe,
  subscribe,
];

let t: TestApp;
let valkey: OwnServer;
let control: Redis;
let real: Real;
const stats = { runs: 0, commands: 0, requests: 0, events: 0 };
const started = performance.now();

beforeAll(async () => {
  // A Valkey of this file's own: the response cache and subscription events are part of what
  // is checked, and each run starts from an empty keyspace.
  valkey = await OwnServer.start();
  control = new Redis(valkey.url, { lazyConnect: true });
  await control.connect();
  // Tiers mixed (SPEC §10): tenant 3 has a database of its own, tenants 2 and 4 share one.
  const tenants = {
    ...defaultTenants,
    defaults: { ...defaultTenants.defaults, rateLimit: { requests: 1e6, perSeconds: 60 } },
    tenants: defaultTenants.tenants.map((tenant) =>
      tenant.id === 3 ? { ...tenant, isolation: 'database' } : tenant,
    ),
  };
  t = await TestApp.start({
    tenants,
    valkeyUrl: valkey.url,
    prepare: async (db, secretsFile) => void (await provisionDedicated(db, secretsFile, tenants)),
  });
  const users = new Map<number, Principal>();
  const keys = new Map<number, Principal>();
  for (const id of TENANTS) {
    users.set(id, { label: `user of ${id}`, headers: { authorization: `Bearer ${await t.token(id)}` } });
    const res = await t.gql(hostOf(id), 'mutation { createApiKey(input: { name: "property" }) { secret } }', {
      headers: users.get(id)!.headers,
    });
    expect(res.body.errors).toBeUndefined();
    keys.set(id, {
      label: `API key of ${id}`,
      headers: { authorization: `ApiKey ${res.body.data!.createApiKey.secret}` },
    });
  }
  const service: Principal = {
    label: 'service 81',
    headers: { authorization: `Bearer ${await t.serviceToken(81)}` },
  };
  const principals = new Map<number, Principal[]>();
  const wrong = new Map<number, WrongCredential[]>();
  for (const id of TENANTS) {
    // Virtual tenant 81 is granted tenants 2 and 3 only.
    principals.set(id, [users.get(id)!, keys.get(id)!, ...(id === 4 ? [] : [service])]);
    const others = TENANTS.filter((o) => o !== id);
    wrong.set(id, [
      ...others.map((o) => ({ ...users.get(o)!, status: 403, code: 'TENANT_MISMATCH' })),
      ...others.map((o) => ({ ...keys.get(o)!, status: 401, code: 'UNAUTHENTICATED' })),
      ...(id === 4 ? [{ ...service, status: 403, code: 'FORBIDDEN' }] : []),
    ]);
  }
  real = { t, principals, wrongCredentials: wrong, stats, valkey: control, subscriptions: [] };
});
afterAll(async () => {
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.info(
    `isolation property: seed ${SEED}, ${stats.runs} runs, ${stats.commands} commands, ${stats.requests} requests, ${stats.events} subscription events in ${seconds} s`,
  );
  control?.disconnect();
  await t?.close();
  await valkey?.stop();
});

function hostOf(id: number): string {
  return { 2: 'tenant1.localhost', 3: 'tenant2.localhost', 4: 'tenant3.localhost' }[id]!;
}

describe('tenant isolation under random operation sequences (model-based)', () => {
  it(
    'keeps every tenant to its own rows, agrees with the model, and hides foreign ids as missing',
    async () => {
      // Past the budget, the remaining runs pass at once; shrinking a failure gets its own budget.
      let deadline = performance.now() + BUDGET_MS;
      let failing = false;
      await fc.assert(
        fc.asyncProperty(
          fc.commands(commandArbs, {
            maxCommands: SOAK ? 80 : 30,
            size: 'max',
            replayPath: process.env.FC_REPLAY_PATH,
          }),
          async (commands) => {
            if (performance.now() > deadline) return;
            stats.runs++;
            const model = emptyModel();
            await resetDatabase(t, model);
            await control.flushall();
            try {
              await fc.asyncModelRun(() => ({ model, real }), counted(commands));
              await checkEvents(model, real);
            } catch (error) {
              if (!failing) deadline = performance.now() + SHRINK_MS;
              failing = true;
              throw error;
            } finally {
              await closeSubscriptions(real);
            }
          },
        ),
        { seed: SEED, path: process.env.FC_PATH, numRuns: SOAK ? 100_000 : 1_000 },
      );
      expect(stats.commands).toBeGreaterThan(0);
    },
    BUDGET_MS + SHRINK_MS + 30_000,
  );
});

function* counted<T>(commands: Iterable<T>): Iterable<T> {
  for (const command of commands) {
    stats.commands++;
    yield command;
  }
}
