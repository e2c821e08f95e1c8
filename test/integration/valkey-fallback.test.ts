import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/db/embedded.js';
import { CACHE_HEADER } from '../../src/pipeline/plugins/use-response-cache.js';
import { defaultTenants, TestApp } from '../helpers/app.js';
import { subscribe } from '../helpers/instances.js';

const HOST = 'tenant1.localhost';
const lines: { level: number; msg: string; valkey?: string }[] = [];
const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });

let t: TestApp;
let token: string;

beforeAll(async () => {
  // Nothing listens on this port: SPEC §2's "Valkey down at start".
  const url = `redis://:secret-password@127.0.0.1:${await freePort()}`;
  const tenants = {
    ...defaultTenants,
    tenants: defaultTenants.tenants.map((x) =>
      x.id === 2 ? { ...x, rateLimit: { requests: 5, perSeconds: 60 } } : x,
    ),
  };
  t = await TestApp.start({ valkeyUrl: url, logger, tenants });
  token = await t.token(2);
});
afterAll(() => t?.close());

describe('Valkey down at start', () => {
  it('says so once, without the password, and runs in-process', async () => {
    const warnings = lines.filter((line) => line.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.msg).toContain('in-process');
    expect(JSON.stringify(lines)).not.toContain('secret-password');
    expect(t.valkey!.state()).toBe('in-process');
    expect(await (await t.app.fetch('http://any.host/readyz')).json()).toMatchObject({
      valkey: 'in-process',
    });
  });

  it('caches, publishes events and limits in-process', async () => {
    const sub = await subscribe(t.app, HOST, 'subscription { taskChanged { kind task { title } } }', {
      token,
    });
    const project = await t.gql(HOST, 'mutation { createProject(input: { name: "p" }) { id } }', { token });
    await t.gql(HOST, 'mutation($p: ID!) { createTask(input: { projectId: $p, title: "local" }) { id } }', {
      token,
      variables: { p: project.body.data!.createProject.id },
    });
    expect((await sub.next()).data.taskChanged).toEqual({ kind: 'CREATED', task: { title: 'local' } });
    await sub.close();

    const query = '{ projects { totalCount } }';
    expect((await t.gql(HOST, query, { token })).headers.get(CACHE_HEADER)).toBe('miss');
    expect((await t.gql(HOST, query, { token })).headers.get(CACHE_HEADER)).toBe('hit'); // request 5 of 5
    const over = await t.gql(HOST, query, { token });
    expect(over.status).toBe(429);
    expect(over.body.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    expect(over.headers.get('retry-after')).toMatch(/^\d+$/);
  });
});
