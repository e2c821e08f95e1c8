import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CACHE_HEADER } from '../../src/pipeline/plugins/use-response-cache.js';
import { defaultTenants, TestApp } from '../helpers/app.js';
import { subscribe, waitForSubscribers } from '../helpers/instances.js';
import { OwnServer } from '../helpers/valkey.js';

const run = promisify(execFile);
const tenants = {
  ...defaultTenants,
  tenants: [...defaultTenants.tenants, { id: 20, subdomain: 'twenty', name: 'Twenty' }],
};

let server: OwnServer;
let dir: string;
let stdout: string;
let stderr: string;
const passwords = new Map<string, string>();
const clients: Redis[] = [];

/** A connection as one of the generated users; errors are the server's own (NOPERM …). */
async function as(user: string): Promise<Redis> {
  const redis = new Redis(server.url, {
    username: user,
    password: passwords.get(user),
    maxRetriesPerRequest: 0,
  });
  redis.on('error', () => {});
  clients.push(redis);
  await redis.ping();
  return redis;
}

beforeAll(async () => {
  server = await OwnServer.start();
  dir = await mkdtemp(join(tmpdir(), 'tenantql-acl-'));
  const tenantsFile = join(dir, 'tenants.json');
  await writeFile(tenantsFile, JSON.stringify(tenants));
  ({ stdout, stderr } = await run(
    process.execPath,
    ['bin/tenantql.js', 'valkey-acl', '--apply', '--server-user', 'tenantql'],
    { env: { ...process.env, TENANTS_FILE: tenantsFile, VALKEY_URL: server.url, LOG_LEVEL: 'info' } },
  ));
  for (const line of stdout.trim().split('\n')) {
    const match = /^ACL SETUSER (\S+) reset (?:on|off) >(\S+) /.exec(line);
    if (match) passwords.set(match[1]!, match[2]!);
  }
}, 60_000);
afterAll(async () => {
  for (const client of clients) client.disconnect();
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('tenantql valkey-acl', () => {
  it('prints one confined user per regular and virtual tenant, passwords only there', () => {
    const lines = stdout.trim().split('\n');
    expect([...passwords.keys()].sort()).toEqual(
      ['tenant_2', 'tenant_3', 'tenant_4', 'tenant_20', 'tenant_81', 'tenant_100', 'tenantql'].sort(),
    );
    expect(lines).toHaveLength(7);
    expect(lines.find((l) => l.includes(' tenant_2 '))).toContain('resetkeys ~{t2}:* resetchannels &{t2}:*');
    expect(lines.find((l) => l.includes(' tenant_100 '))).toContain(' reset off >'); // disabled tenant
    // Every key or channel pattern ends with ":*": tenant 2's can never match {t20}.
    for (const line of lines) {
      for (const pattern of line.split(' ').filter((w) => /^[~&%]/.test(w))) expect(pattern).toMatch(/:\*$/);
    }
    const unique = new Set(passwords.values());
    expect(unique.size).toBe(7);
    for (const password of unique) {
      expect(password.length).toBeGreaterThanOrEqual(40);
      expect(stderr).not.toContain(password);
    }
  });

  it('lets tenant_2 use {t2}: and nothing else', async () => {
    const t2 = await as('tenant_2');
    expect(await t2.set('{t2}:x', 'mine')).toBe('OK');
    expect(await t2.get('{t2}:x')).toBe('mine');
    const denied = async (command: Promise<unknown>) => {
      const error = await command.then(
        () => undefined,
        (e: Error) => e,
      );
      expect(error?.message).toMatch(/^NOPERM/);
    };
    await denied(t2.get('{t3}:x'));
    await denied(t2.set('{t3}:x', 'theirs'));
    await denied(t2.get('{t20}:x'));
    await denied(t2.set('{t20}:x', 'theirs'));
    await denied(t2.scan('0', 'MATCH', '*'));
    await denied(t2.keys('*'));
    await denied(t2.randomkey());
    await denied(t2.flushdb());
    await denied(t2.flushall());
    await denied(t2.dbsize());
    await denied(t2.pubsub('CHANNELS', '*'));
    await denied(t2.publish('{t3}:events:tasks', 'x'));
    expect(await t2.publish('{t2}:events:tasks', 'x')).toBe(0);

    const admin = new Redis(server.url);
    clients.push(admin);
    expect(await admin.call('ACL', 'DRYRUN', 'tenant_2', 'GET', '{t3}:x')).toMatch(/no permissions/);
    expect(await admin.call('ACL', 'DRYRUN', 'tenant_2', 'GET', '{t2}:x')).toBe('OK');
  });

  it('keeps tenant_2 off other tenants’ channels, patterns included', async () => {
    const sub = await as('tenant_2');
    await expect(sub.subscribe('{t3}:events:tasks')).rejects.toThrow(/^NOPERM/);
    await expect(sub.psubscribe('*')).rejects.toThrow(/^NOPERM/);
    await expect(sub.psubscribe('{t2*')).rejects.toThrow(/^NOPERM/);
    expect(await sub.subscribe('{t2}:events:tasks')).toBe(1);
    // Leave the channel to the server of the next test: its wait for a subscriber must see its own.
    await sub.unsubscribe('{t2}:events:tasks');
  });

  it('runs the server itself as the generated server user', async () => {
    const url = `redis://tenantql:${passwords.get('tenantql')}@127.0.0.1:${server.port}`;
    const t = await TestApp.start({ valkeyUrl: url });
    try {
      expect(t.valkey!.state()).toBe('ready');
      const token = await t.token(2);
      const query = '{ projects { totalCount } }';
      await t.gql('tenant1.localhost', query, { token });
      expect((await t.gql('tenant1.localhost', query, { token })).headers.get(CACHE_HEADER)).toBe('hit');
      const sub = await subscribe(t.app, 'tenant1.localhost', 'subscription { taskChanged { kind } }', {
        token,
      });
      const p = await t.gql('tenant1.localhost', 'mutation { createProject(input: { name: "p" }) { id } }', {
        token,
      });
      const admin = new Redis(server.url);
      clients.push(admin);
      await waitForSubscribers(admin, '{t2}:events:tasks');
      await t.gql(
        'tenant1.localhost',
        'mutation($p: ID!) { createTask(input: { projectId: $p, title: "t" }) { id } }',
        {
          token,
          variables: { p: p.body.data!.createProject.id },
        },
      );
      expect((await sub.next()).data.taskChanged).toEqual({ kind: 'CREATED' });
      await sub.close();
      // The server user cannot leave the tenant keyspace either.
      const own = await as('tenantql');
      await expect(own.set('plain-key', '1')).rejects.toThrow(/^NOPERM/);
      await expect(own.flushall()).rejects.toThrow(/^NOPERM/);
    } finally {
      await t.close();
    }
  });
});
