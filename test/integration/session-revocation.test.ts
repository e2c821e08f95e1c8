import { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RECHECK_MS } from '../../src/auth/session-revocations.js';
import { TEST_JWT_SECRET, TestApp } from '../helpers/app.js';
import { inTenant, withClient } from '../helpers/db.js';
import {
  type Peer,
  type Subscription,
  startPeer,
  subscribe,
  waitForSubscribers,
} from '../helpers/instances.js';
import { OwnServer } from '../helpers/valkey.js';

// SPEC §6 "Revocation before expiry": revokeSessions(subject) makes that subject's user tokens
// issued up to now answer 401 on every instance within one second, ends its open streams, and
// lets tokens issued later work. PostgreSQL holds it (a restart keeps it), Valkey carries the
// news, and an instance that cannot hear Valkey reads PostgreSQL again within RECHECK_MS.
const HOST = 'tenant1.localhost'; // tenant 2
const OTHER_HOST = 'tenant2.localhost'; // tenant 3
const REVOKE = 'mutation($s: String!) { revokeSessions(subject: $s) }';
const VIEWER = '{ viewer { kind subject } }';
const SUBSCRIPTION = 'subscription { taskChanged { kind taskId } }';
const WITHIN_MS = 1_000;

let valkey: OwnServer;
let t: TestApp;
let peer: Peer;
let admin: string;
const open: Subscription[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How each instance answers `token` now: the HTTP status and the first error code. */
async function answers(token: string, host = HOST) {
  const ask = async (gql: (h: string, q: string, o: { token: string }) => Promise<any>) => {
    const res = await gql(host, VIEWER, { token });
    return `${res.status}${res.body.errors ? ` ${res.body.errors[0].extensions.code}` : ''}`;
  };
  return { a: await ask((h, q, o) => t.gql(h, q, o)), b: await ask(peer.gql) };
}

/** Milliseconds until `instance` answers `token` with 401 (polled), or throws after `ms`. */
async function msUntilRefused(gql: Peer['gql'], token: string, since: number, ms: number): Promise<number> {
  for (;;) {
    const res = await gql(HOST, VIEWER, { token });
    if (res.status === 401) {
      expect(res.body.errors?.map((e) => e.extensions?.code)).toEqual(['UNAUTHENTICATED']);
      return Date.now() - since;
    }
    expect(res.status).toBe(200);
    if (Date.now() - since > ms) throw new Error(`still accepted after ${ms} ms`);
    await sleep(20);
  }
}

/** revokeSessions on the first instance; resolves Date.now() once it answered. */
async function revoke(subject: string) {
  const res = await t.gql(HOST, REVOKE, { token: admin, variables: { s: subject } });
  expect(res.body).toEqual({ data: { revokeSessions: true } });
  return Date.now();
}

/** Waits until a token signed now has an `iat` after a revocation at `revokedAt` (seconds count). */
async function nextSecondAfter(revokedAt: number): Promise<void> {
  await sleep(Math.ceil((revokedAt + 1) / 1000) * 1000 - Date.now() + 10);
}

beforeAll(async () => {
  valkey = await OwnServer.start();
  t = await TestApp.start({ valkeyUrl: valkey.url });
  peer = await startPeer(t);
  admin = await t.token(2, 'the-admin', '1h', { roles: ['admin'] });
});
afterAll(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
  await peer?.close();
  await t?.close();
  await valkey?.stop();
});

describe('revokeSessions across two instances', () => {
  it("refuses the subject's earlier tokens on both within a second, remembered verdicts included", async () => {
    const alice = await t.token(2, 'alice');
    const bob = await t.token(2, 'bob');
    // Both instances have verified (and remembered) the token and read the tenant's revocations.
    expect(await answers(alice)).toEqual({ a: '200', b: '200' });
    const at = await revoke('alice');
    const [a, b] = await Promise.all([
      msUntilRefused((h, q, o) => t.gql(h, q, o), alice, at, WITHIN_MS),
      msUntilRefused(peer.gql, alice, at, WITHIN_MS),
    ]);
    console.info(`revokeSessions: refused after ${a} ms here, ${b} ms on the other instance`);
    expect({ a: a <= WITHIN_MS, b: b <= WITHIN_MS }).toEqual({ a: true, b: true });
    // Another subject, and the admin who revoked, are untouched.
    expect(await answers(bob)).toEqual({ a: '200', b: '200' });
    expect(await answers(admin)).toEqual({ a: '200', b: '200' });
  });

  it('covers a token without iat, and lets a token issued after the revocation work', async () => {
    const exp = Math.floor(Date.now() / 1000) + 600;
    const noIat = await new SignJWT({ tid: 2, roles: ['member'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('carol')
      .setExpirationTime(exp)
      .sign(new TextEncoder().encode(TEST_JWT_SECRET));
    expect(await answers(noIat)).toEqual({ a: '200', b: '200' });
    const at = await revoke('carol');
    await msUntilRefused(peer.gql, noIat, at, WITHIN_MS);
    expect(await answers(noIat)).toEqual({ a: '401 UNAUTHENTICATED', b: '401 UNAUTHENTICATED' });
    // A token of the same second as the revocation is covered; from the next second it works.
    await nextSecondAfter(at);
    const later = await t.token(2, 'carol');
    expect(await answers(later)).toEqual({ a: '200', b: '200' });
    expect(await answers(noIat)).toEqual({ a: '401 UNAUTHENTICATED', b: '401 UNAUTHENTICATED' });
  });

  it("ends the subject's open subscriptions on both instances, and no one else's", async () => {
    const dave = await t.token(2, 'dave');
    const erin = await t.token(2, 'erin');
    const here = await subscribe(t.app, HOST, SUBSCRIPTION, { token: dave });
    const there = await subscribe(peer.app, HOST, SUBSCRIPTION, { token: dave });
    const control = await subscribe(peer.app, HOST, SUBSCRIPTION, { token: erin });
    open.push(here, there, control);
    expect([here.status, there.status, control.status]).toEqual([200, 200, 200]);
    await sleep(100); // the streams are watched and subscribed
    const at = await revoke('dave');
    expect(await here.ended(WITHIN_MS)).toBe(true);
    expect(await there.ended(WITHIN_MS)).toBe(true);
    console.info(
      `revokeSessions: streams ended after ${here.endedAt! - at} ms here, ${there.endedAt! - at} ms there`,
    );
    expect(await control.ended(200)).toBe(false);
    const project = await t.gql(HOST, 'mutation { createProject(input: { name: "p" }) { id } }', {
      token: admin,
    });
    const task = await t.gql(
      HOST,
      'mutation($p: ID!) { createTask(input: { projectId: $p, title: "x" }) { id } }',
      {
        token: admin,
        variables: { p: project.body.data!.createProject.id },
      },
    );
    expect((await control.next()).data.taskChanged.taskId).toBe(task.body.data!.createTask.id);
  });

  it('is for tenant admins in person; a subject is compared exactly and must be one a token can carry', async () => {
    const member = await t.token(2, 'frank', '1h', { roles: ['member'] });
    const res = await t.gql(HOST, REVOKE, { token: member, variables: { s: 'alice' } });
    expect({ status: res.status, code: res.body.errors?.[0]?.extensions?.code }).toEqual({
      status: 403,
      code: 'FORBIDDEN',
    });
    for (const subject of ['', 'a\u0000b', 'x'.repeat(1001)]) {
      const bad = await t.gql(HOST, REVOKE, { token: admin, variables: { s: subject } });
      expect(bad.body.errors?.map((e) => e.extensions?.code)).toEqual(['BAD_USER_INPUT']);
    }
    // ' alice' is another subject: not trimmed into alice's.
    const spaced = await t.token(2, ' grace');
    await revoke('grace');
    expect(await answers(spaced)).toEqual({ a: '200', b: '200' });
  });
});

describe('revokeSessions is stored in PostgreSQL', () => {
  it('survives a restart: a new instance refuses the revoked tokens from its first request', async () => {
    const heidi = await t.token(2, 'heidi');
    await revoke('heidi');
    await peer.close();
    peer = await startPeer(t);
    const res = await peer.gql(HOST, VIEWER, { token: heidi });
    expect({ status: res.status, code: res.body.errors?.[0]?.extensions?.code }).toEqual({
      status: 401,
      code: 'UNAUTHENTICATED',
    });
  });

  it("is one tenant's: the same subject in another tenant keeps working, and no other tenant reaches the rows", async () => {
    const ivan2 = await t.token(2, 'ivan');
    const ivan3 = await t.token(3, 'ivan');
    await revoke('ivan');
    expect((await answers(ivan2)).a).toBe('401 UNAUTHENTICATED');
    expect(await answers(ivan3, OTHER_HOST)).toEqual({ a: '200', b: '200' });

    // The runtime role, as tenant 3: tenant 2's rows are not there to read, change or delete,
    // and it cannot write one for tenant 2.
    await withClient(t.db.appUrl, async (c) => {
      const asTenant3 = <T>(work: () => Promise<T>) => inTenant(c, 3, work);
      expect((await asTenant3(() => c.query('SELECT * FROM app.session_revocations'))).rows).toEqual([]);
      expect(
        (
          await asTenant3(() =>
            c.query("UPDATE app.session_revocations SET revoked_at = now() - interval '30 days'"),
          )
        ).rowCount,
      ).toBe(0);
      expect((await asTenant3(() => c.query('DELETE FROM app.session_revocations'))).rowCount).toBe(0);
      await expect(
        asTenant3(() =>
          c.query(
            "INSERT INTO app.session_revocations (tenant_id, subject, revoked_at) VALUES (2, 'x', now())",
          ),
        ),
      ).rejects.toThrow(/row-level security/);
      // Without a tenant, nothing at all (fail closed).
      expect((await c.query('SELECT * FROM app.session_revocations')).rows).toEqual([]);
    });
    const rows = await withClient(
      t.db.superuserUrl,
      async (c) =>
        (await c.query("SELECT tenant_id FROM app.session_revocations WHERE subject = 'ivan'")).rows,
    );
    expect(rows).toEqual([{ tenant_id: 2 }]);
  });

  it('is bounded: a revocation older than the longest token lifetime is dropped, and no longer applies', async () => {
    const judy = await t.token(2, 'judy');
    // As if revoked 8 days ago: every token it covered has expired (JWT_MAX_TTL_SECONDS, 7 days).
    await withClient(t.db.superuserUrl, (c) =>
      c.query(
        "INSERT INTO app.session_revocations (tenant_id, subject, revoked_at) VALUES (2, 'judy', now() - interval '8 days'), (2, 'old', now() - interval '8 days')",
      ),
    );
    const fresh = await startPeer(t);
    try {
      expect((await fresh.gql(HOST, VIEWER, { token: judy })).status).toBe(200);
    } finally {
      await fresh.close();
    }
    await revoke('someone-new');
    const left = await withClient(
      t.db.superuserUrl,
      async (c) =>
        (
          await c.query(
            "SELECT subject FROM app.session_revocations WHERE tenant_id = 2 AND subject IN ('judy', 'old', 'someone-new')",
          )
        ).rows,
    );
    expect(left).toEqual([{ subject: 'someone-new' }]);
  });

  it('refuses a user token that lives longer than JWT_MAX_TTL_SECONDS, so none outlives its revocation', async () => {
    const now = Math.floor(Date.now() / 1000);
    const sign = (claims: Record<string, unknown>) =>
      new SignJWT({ tid: 2, sub: 'long', ...claims })
        .setProtectedHeader({ alg: 'HS256' })
        .sign(new TextEncoder().encode(TEST_JWT_SECRET));
    const week = 7 * 86_400;
    expect((await t.gql(HOST, VIEWER, { token: await sign({ iat: now, exp: now + week }) })).status).toBe(
      200,
    );
    expect(
      (await t.gql(HOST, VIEWER, { token: await sign({ iat: now, exp: now + week + 3600 }) })).status,
    ).toBe(401);
    // Without iat, what is left of it counts.
    expect((await t.gql(HOST, VIEWER, { token: await sign({ exp: now + week + 3600 }) })).status).toBe(401);
    expect((await t.gql(HOST, VIEWER, { token: await sign({ exp: now + 3600 }) })).status).toBe(200);
  });
});

describe('revokeSessions while Valkey is down', () => {
  it('the revoking instance refuses at once, the other within its re-check, and both after Valkey is back', async () => {
    const mallory = await t.token(2, 'mallory');
    const oscar = await t.token(2, 'oscar');
    expect(await answers(mallory)).toEqual({ a: '200', b: '200' });
    expect(await answers(oscar)).toEqual({ a: '200', b: '200' });
    await valkey.stop();
    const deadline = Date.now() + 5_000;
    while (t.valkey!.state() !== 'down' || peer.valkey.state() !== 'down') {
      if (Date.now() > deadline) throw new Error('Valkey still seen as up');
      await sleep(20);
    }
    try {
      const at = await revoke('mallory');
      const res = await t.gql(HOST, VIEWER, { token: mallory });
      expect(res.status).toBe(401);
      const late = await msUntilRefused(peer.gql, mallory, at, RECHECK_MS + WITHIN_MS);
      console.info(`revokeSessions without Valkey: the other instance refused after ${late} ms`);

      // Revoked while the other instance had just read: it learns within RECHECK_MS, not sooner
      // from any notice (none can travel).
      await peer.gql(HOST, VIEWER, { token: oscar });
      const again = await revoke('oscar');
      expect((await t.gql(HOST, VIEWER, { token: oscar })).status).toBe(401);
      const bound = await msUntilRefused(peer.gql, oscar, again, RECHECK_MS + WITHIN_MS);
      console.info(`revokeSessions without Valkey, just read: refused after ${bound} ms`);
    } finally {
      await valkey.restart();
    }
    const waitUp = Date.now() + 10_000;
    while (t.valkey!.state() !== 'ready' || peer.valkey.state() !== 'ready') {
      if (Date.now() > waitUp) throw new Error('Valkey not back');
      await sleep(50);
    }
    expect(await answers(mallory)).toEqual({ a: '401 UNAUTHENTICATED', b: '401 UNAUTHENTICATED' });
    // And the news travels again: a revocation after the outage reaches the other within a second.
    const peggy = await t.token(2, 'peggy');
    expect(await answers(peggy)).toEqual({ a: '200', b: '200' });
    // Both instances' subscriber connections have re-subscribed the tenant's channel.
    const control = new Redis(valkey.url);
    try {
      await waitForSubscribers(control, '{t2}:events:sessions', 2);
    } finally {
      control.disconnect();
    }
    const after = await revoke('peggy');
    await msUntilRefused(peer.gql, peggy, after, WITHIN_MS);
  });
});
