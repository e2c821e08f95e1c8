import { Redis } from 'ioredis';
import pg from 'pg';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { channels } from '../../src/cache/keyspace.js';
import { defaultTenants, TestApp } from '../helpers/app.js';
import {
  type Peer,
  type Subscription,
  startPeer,
  subscribe,
  waitForSubscribers,
} from '../helpers/instances.js';
import { openEventStream } from '../helpers/server-process.js';
import { OwnServer } from '../helpers/valkey.js';

/**
 * SPEC §7, catalogue G1: a subscription ends, with one final error event, as soon as the
 * credential that opened it stops being valid: grant withdrawn, virtual tenant disabled or
 * removed, API key revoked (on any instance), token expired, tenant disabled or removed. No data
 * event reaches it after that moment, and a control stream that stays valid still gets its event.
 * Two instances (t and peer) share PostgreSQL, Valkey and the tenants file. The Valkey is this
 * file's own: channels, unlike keys, are not per database, and other files use `{t2}:` channels.
 */
const A = 'tenant1.localhost'; // tenant 2
const B = 'tenant2.localhost'; // tenant 3
const D = 'tenant4.localhost'; // tenant 5
const SUBSCRIPTION = 'subscription { taskChanged { kind taskId } }';
const CREATE_PROJECT = 'mutation($n: String!) { createProject(input: { name: $n }) { id } }';
const CREATE_TASK =
  'mutation($p: ID!, $t: String!) { createTask(input: { projectId: $p, title: $t }) { id } }';
const CREATE_KEY = 'mutation($n: String!) { createApiKey(input: { name: $n }) { secret apiKey { id } } }';
const REVOKE_KEY = 'mutation($id: ID!) { revokeApiKey(id: $id) }';

/** A tenants-file entry, as far as these tests change it. */
interface TenantEntry {
  id: number;
  grants?: number[];
  disabled?: boolean;
  [field: string]: unknown;
}
const baseTenants: TenantEntry[] = [
  ...defaultTenants.tenants,
  { id: 5, subdomain: 'tenant4', name: 'Tenant Four' },
  { id: 82, subdomain: 'exports', name: 'Exports service', grants: [2] },
];
const tenantsFile = (tenants: TenantEntry[]) => ({ ...defaultTenants, tenants });

let t: TestApp;
let peer: Peer;
let valkey: OwnServer;
/** Both instances' log lines. */
const lines: Record<string, any>[] = [];
const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
const logged = (text: string) => lines.filter((line) => String(line.msg).includes(text));
let redis: Redis;
let superuser: pg.Client;
const tokens: Record<number, string> = {};
const projects: Record<number, string> = {};
const open: Subscription[] = [];

async function mutate(host: string, token: string, query: string, variables: object) {
  const res = await t.gql(host, query, { token, variables });
  expect(res.body.errors).toBeUndefined();
  return Object.values(res.body.data!)[0] as any;
}

/** A task change in tenant 2, 3 or 5, committed on instance 1. */
const createTask = (tenant: 2 | 3 | 5, title: string) =>
  mutate({ 2: A, 3: B, 5: D }[tenant], tokens[tenant]!, CREATE_TASK, { p: projects[tenant], t: title });

async function stream(
  app: TestApp | Peer,
  host: string,
  auth: { token: string } | { apiKey: string },
): Promise<Subscription> {
  const credential = 'token' in auth ? { token: auth.token } : { authorization: `ApiKey ${auth.apiKey}` };
  const sub = await subscribe(app.app, host, SUBSCRIPTION, credential);
  expect(sub.status).toBe(200);
  open.push(sub);
  return sub;
}

/**
 * Every stream is live and has its listener joined: one task change reaches each of them.
 * (The instances subscribe a channel lazily; a listener joins its channel at the next PONG.)
 */
async function prime(tenant: 2 | 3 | 5, subs: Subscription[], instances = 1): Promise<void> {
  await waitForSubscribers(redis, channels.events(tenant, 'tasks'), instances);
  await new Promise((r) => setTimeout(r, 50));
  const task = await createTask(tenant, 'primer');
  for (const sub of subs)
    expect((await sub.next()).data.taskChanged).toEqual({ kind: 'CREATED', taskId: task.id });
}

/** The stream got exactly one more event, the final error with `code`, and then the server closed it. */
async function expectEndedWith(sub: Subscription, code: string): Promise<void> {
  expect(await sub.next()).toEqual({ errors: [{ message: expect.any(String), extensions: { code } }] });
  expect(await sub.ended(3_000)).toBe(true);
  expect(await sub.quiet(20)).toBe(true);
}

async function expectReceives(sub: Subscription, task: { id: string }): Promise<void> {
  expect((await sub.next()).data.taskChanged).toEqual({ kind: 'CREATED', taskId: task.id });
}

async function reloadWith(change: (tenants: TenantEntry[]) => TenantEntry[]): Promise<number> {
  await t.writeTenants(tenantsFile(change(baseTenants)));
  const started = Date.now();
  expect((await t.registry.reload()).ok).toBe(true);
  return started;
}

const withGrants = (id: number, grants: number[]) => (ts: TenantEntry[]) =>
  ts.map((x) => (x.id === id ? { ...x, grants } : x));
const disabled = (id: number) => (ts: TenantEntry[]) =>
  ts.map((x) => (x.id === id ? { ...x, disabled: true } : x));
const removed = (id: number) => (ts: TenantEntry[]) => ts.filter((x) => x.id !== id);

/** For the closing note: how long after its credential stopped being valid each stream ended. */
function report(path: string, ms: number | string): void {
  console.info(`[stream end] ${path}: ${ms} ms`);
}

async function createKey(host: string, token: string, name: string) {
  const created = await mutate(host, token, CREATE_KEY, { n: name });
  return { secret: created.secret as string, id: created.apiKey.id as string };
}

/** The key's row id (what revocation messages carry), read as the superuser. */
async function rowIdOf(tenantId: number, secret: string): Promise<string> {
  const prefix = secret.split('_')[1];
  const { rows } = await superuser.query<{ id: string }>(
    'SELECT id::text FROM app.api_keys WHERE tenant_id = $1 AND prefix = $2',
    [tenantId, prefix],
  );
  return rows[0]!.id;
}

beforeAll(async () => {
  valkey = await OwnServer.start();
  redis = new Redis(valkey.url);
  t = await TestApp.start({ valkeyUrl: valkey.url, tenants: tenantsFile(baseTenants), logger });
  peer = await startPeer(t, logger);
  superuser = new pg.Client({ connectionString: t.db.superuserUrl });
  await superuser.connect();
  for (const id of [2, 3, 5] as const) {
    tokens[id] = await t.token(id);
    projects[id] = (await mutate({ 2: A, 3: B, 5: D }[id], tokens[id]!, CREATE_PROJECT, { n: `P${id}` })).id;
  }
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((sub) => sub.close()));
  await t.writeTenants(tenantsFile(baseTenants));
  await t.registry.reload();
});
afterAll(async () => {
  await superuser?.end();
  await peer?.close();
  await t?.close();
  redis?.disconnect();
  await valkey?.stop();
});

describe('a reload that withdraws what a stream was opened with', () => {
  it("(a) ends a service's stream when its grant to the tenant is withdrawn, and only there", async () => {
    const service = await stream(t, A, { token: await t.serviceToken(81) });
    const stillGranted = await stream(t, B, { token: await t.serviceToken(81) });
    const control = await stream(t, A, { token: tokens[2]! });
    await prime(2, [service, control]);
    await prime(3, [stillGranted]);

    const started = await reloadWith(withGrants(81, [3]));
    const task = await createTask(2, 'after the grant was withdrawn');
    await expectEndedWith(service, 'FORBIDDEN');
    report('grant withdrawn (reload to stream end)', service.endedAt! - started);
    await expectReceives(control, task);
    await expectReceives(stillGranted, await createTask(3, 'still granted'));
    // One line per reload for the operator, however many streams it ended.
    expect(logged('subscriptions ended by a reload').at(-1)).toMatchObject({ ended: { FORBIDDEN: 1 } });
  });

  it('(b) ends the streams of a virtual tenant that is disabled, or removed', async () => {
    const disabledService = await stream(t, A, { token: await t.serviceToken(81) });
    const removedService = await stream(peer, A, { token: await t.serviceToken(82) });
    const control = await stream(peer, A, { token: tokens[2]! });
    await prime(2, [disabledService, removedService, control], 2);

    const started = await reloadWith((ts) => removed(82)(disabled(81)(ts)));
    const task = await createTask(2, 'after the services went');
    await expectEndedWith(disabledService, 'UNAUTHENTICATED');
    await expectEndedWith(removedService, 'UNAUTHENTICATED');
    report('virtual tenant disabled (reload to stream end)', disabledService.endedAt! - started);
    report(
      'virtual tenant removed, other instance (reload to stream end)',
      removedService.endedAt! - started,
    );
    await expectReceives(control, task);
  });

  it('(e) ends the streams of a tenant that is disabled, or removed', async () => {
    const victim = await stream(t, D, { token: tokens[5]! });
    const control = await stream(t, A, { token: tokens[2]! });
    await prime(5, [victim]);
    await prime(2, [control]);

    const started = await reloadWith(disabled(5));
    // No mutation runs on a disabled tenant's host; an event still comes, e.g. from a peer that has not reloaded.
    await t.valkey!.events.publish(5, 'tasks', { kind: 'CREATED', taskId: '999', projectId: '1' });
    await expectEndedWith(victim, 'TENANT_DISABLED');
    report('tenant disabled (reload to stream end)', victim.endedAt! - started);
    await expectReceives(control, await createTask(2, 'control'));

    await t.writeTenants(tenantsFile(baseTenants));
    await t.registry.reload();
    const again = await stream(peer, D, { token: tokens[5]! });
    await prime(5, [again]);
    const removedAt = await reloadWith(removed(5));
    await t.valkey!.events.publish(5, 'tasks', { kind: 'CREATED', taskId: '998', projectId: '1' });
    await expectEndedWith(again, 'TENANT_NOT_FOUND');
    report('tenant removed, other instance (reload to stream end)', again.endedAt! - removedAt);
  });
});

describe('API key revocation', () => {
  it('(c) revoking a key on instance 1 ends its stream on instance 2 at once; other keys stay', async () => {
    const revoked = await createKey(A, tokens[2]!, 'to revoke');
    const kept = await createKey(A, tokens[2]!, 'kept');
    const victim = await stream(peer, A, { apiKey: revoked.secret });
    const otherKey = await stream(peer, A, { apiKey: kept.secret });
    const control = await stream(peer, A, { token: tokens[2]! });
    await prime(2, [victim, otherKey, control]);

    const started = Date.now();
    expect(await mutate(A, tokens[2]!, REVOKE_KEY, { id: revoked.id })).toBe(true);
    const committed = Date.now();
    // Quiet channel: the stream ends on the revocation message, not on a next event.
    expect(await victim.ended(3_000)).toBe(true);
    report(
      'API key revoked on instance 1, stream on instance 2 (revoke request sent / answered to stream end)',
      `${victim.endedAt! - started} / ${victim.endedAt! - committed}`,
    );
    const task = await createTask(2, 'after the revocation');
    await expectEndedWith(victim, 'UNAUTHENTICATED');
    await expectReceives(otherKey, task);
    await expectReceives(control, task);
    expect(logged('subscription ended: its credential is no longer valid').at(-1)).toMatchObject({
      tenantId: 2,
      principal: 'API_KEY',
      code: 'UNAUTHENTICATED',
    });
    // The secret part: after `tql_<12 hex>_` (it is base64url, so it may itself hold `_`).
    expect(JSON.stringify(lines)).not.toContain(revoked.secret.slice('tql_0123456789ab_'.length));
  });

  it('checks the key before every event, so a lost revocation message still delivers nothing', async () => {
    const key = await createKey(A, tokens[2]!, 'revoked behind our back');
    const victim = await stream(peer, A, { apiKey: key.secret });
    const control = await stream(peer, A, { token: tokens[2]! });
    await prime(2, [victim, control]);

    // Revoked in the database with no message (as if Valkey had lost it).
    await superuser.query('UPDATE app.api_keys SET revoked_at = now() WHERE tenant_id = 2 AND id = $1', [
      await rowIdOf(2, key.secret),
    ]);
    expect(await victim.quiet(200)).toBe(true);
    const task = await createTask(2, 'after the silent revocation');
    await expectEndedWith(victim, 'UNAUTHENTICATED');
    await expectReceives(control, task);
  });

  it('ends the stream in-process when there is no Valkey', async () => {
    const local = await TestApp.start({ tenants: tenantsFile(baseTenants) });
    try {
      const token = await local.token(2);
      const project = (await local.gql(A, CREATE_PROJECT, { token, variables: { n: 'local' } })).body.data!
        .createProject.id;
      const key = (await local.gql(A, CREATE_KEY, { token, variables: { n: 'local key' } })).body.data!
        .createApiKey;
      const victim = await subscribe(local.app, A, SUBSCRIPTION, { authorization: `ApiKey ${key.secret}` });
      const control = await subscribe(local.app, A, SUBSCRIPTION, { token });
      open.push(victim, control);
      await new Promise((r) => setTimeout(r, 50));
      const started = Date.now();
      expect((await local.gql(A, REVOKE_KEY, { token, variables: { id: key.apiKey.id } })).body.data).toEqual(
        {
          revokeApiKey: true,
        },
      );
      expect(await victim.ended(3_000)).toBe(true);
      report('API key revoked, no Valkey (revoke request to stream end)', victim.endedAt! - started);
      const task = await local.gql(A, CREATE_TASK, { token, variables: { p: project, t: 'local' } });
      await expectEndedWith(victim, 'UNAUTHENTICATED');
      expect((await control.next()).data.taskChanged.taskId).toBe(task.body.data!.createTask.id);
    } finally {
      await Promise.all(open.splice(0).map((sub) => sub.close()));
      await local.close();
    }
  });

  it("never lets one tenant's revocations touch another tenant's streams", async () => {
    const keyA = await createKey(A, tokens[2]!, 'A');
    const keyB = await createKey(B, tokens[3]!, 'B');
    const streamA = await stream(peer, A, { apiKey: keyA.secret });
    const streamB = await stream(peer, B, { apiKey: keyB.secret });
    await prime(2, [streamA]);
    await prime(3, [streamB]);

    // Tenant 3's channel naming tenant 2's key id; tenant 2's channel with a message of tenant 3.
    const idA = await rowIdOf(2, keyA.secret);
    await t.valkey!.events.publish(3, 'revocations', { apiKeyId: idA });
    await redis.publish(channels.events(2, 'revocations'), JSON.stringify({ t: 3, apiKeyId: idA }));
    // Tenant 3 revokes its own key.
    expect(await mutate(B, tokens[3]!, REVOKE_KEY, { id: keyB.id })).toBe(true);
    expect(await streamB.ended(3_000)).toBe(true);

    expect(await streamA.quiet(200)).toBe(true);
    expect(streamA.endedAt).toBeUndefined();
    await expectReceives(streamA, await createTask(2, 'A is unaffected'));
    await expectEndedWith(streamB, 'UNAUTHENTICATED');
  });
});

describe('token expiry', () => {
  it('(d) ends the stream exactly at exp (no clock tolerance), with no event after it', async () => {
    const short = await t.token(2, 'short-lived', '3s');
    const exp = (JSON.parse(Buffer.from(short.split('.')[1]!, 'base64url').toString()) as { exp: number })
      .exp;
    const victim = await stream(t, A, { token: short });
    const control = await stream(t, A, { token: tokens[2]! });
    await prime(2, [victim, control]);

    // Quiet channel: the stream ends by itself at exp.
    expect(await victim.ended(exp * 1000 - Date.now() + 2_000)).toBe(true);
    expect(victim.endedAt!).toBeGreaterThanOrEqual(exp * 1000);
    report('token expired (exp to stream end)', victim.endedAt! - exp * 1000);
    const task = await createTask(2, 'after exp');
    await expectEndedWith(victim, 'UNAUTHENTICATED');
    await expectReceives(control, task);
  });

  it('sends the final error event and closes the response over a real socket', async () => {
    const port = await t.listen();
    const short = await t.token(2, 'on the wire', '2s');
    const body = await openEventStream(port, { host: A, token: short, query: SUBSCRIPTION }).ended;
    const frames = body.split('\n\n').filter((frame) => frame.startsWith('event:'));
    expect(frames).toEqual([
      'event: next\ndata: {"errors":[{"message":"The token has expired.","extensions":{"code":"UNAUTHENTICATED"}}]}',
      'event: complete\ndata:',
    ]);
  });

  it('refuses to open a stream with a token already past exp but inside the clock tolerance', async () => {
    const expired = await t.token(2, 'stale', '-5s');
    const sub = await stream(t, A, { token: expired });
    await expectEndedWith(sub, 'UNAUTHENTICATED');
  });
});

describe('bounded', () => {
  it('leaves no entry and no Valkey subscription behind when clients disconnect', async () => {
    const key = await createKey(A, tokens[2]!, 'disconnecting');
    const streams = [
      await stream(peer, A, { apiKey: key.secret }),
      await stream(peer, A, { token: await t.token(2, 'leaving', '10m') }),
      await stream(peer, A, { token: await t.serviceToken(81) }),
    ];
    await prime(2, streams);
    expect(peer.streams.size).toBe(3);
    await Promise.all(open.splice(0).map((sub) => sub.close()));
    await expect.poll(() => peer.streams.size).toBe(0);
    await expect
      .poll(() => redis.pubsub('NUMSUB', channels.events(2, 'revocations'), channels.events(2, 'tasks')))
      .toEqual([channels.events(2, 'revocations'), 0, channels.events(2, 'tasks'), 0]);
  });
});
