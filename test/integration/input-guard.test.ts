import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';
import { MAX_NESTING } from '../../src/pipeline/plugins/use-input-guard.js';
import { TestApp } from '../helpers/app.js';
import { everyTenantRowSnapshot } from '../helpers/snapshot.js';
import { sharedValkeyUrl } from '../helpers/valkey.js';

// SPEC §7: input PostgreSQL cannot store (a NUL, a lone surrogate: invalid UTF-8 once encoded)
// and input too deep to process are BAD_USER_INPUT, HTTP 400, and nothing executes. Issue 11
// items 6 and 7. With the response cache on (its own Valkey database, 12), because the cache
// is one of the recursive walks: it serialises the variables of a known query text.
const HOST = 'tenant1.localhost'; // tenant 2
const CREATE_PROJECT = 'mutation($n: String!) { createProject(input: { name: $n }) { id name } }';
const PROJECTS = 'query Projects { projects(first: 5) { totalCount } }';

const log = {
  text: '',
  write(chunk: string) {
    this.text += chunk;
  },
  errorsSince(offset: number): Record<string, unknown>[] {
    return this.text
      .slice(offset)
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line))
      .filter((line) => line.level >= 50);
  },
};

let t: TestApp;
let token: string;
beforeAll(async () => {
  t = await TestApp.start({
    valkeyUrl: sharedValkeyUrl(12),
    logger: createLogger({ level: 'info', pretty: false, destination: log }),
  });
  token = await t.token(2);
});
afterAll(() => t.close());

/** POST `body` as it is (any JSON text, a batch too) to the tenant host, with the tenant token. */
async function post(body: string, headers: Record<string, string> = {}) {
  const response = await t.app.fetch(`http://${HOST}/graphql`, {
    method: 'POST',
    headers: { host: HOST, 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers },
    body,
  });
  return { status: response.status, body: (await response.json()) as any };
}

/** 400 BAD_USER_INPUT with no data, nothing written in any tenant table, no error logged. */
async function expectRefused(send: () => Promise<{ status: number; body: any }>): Promise<void> {
  const before = await everyTenantRowSnapshot(t.db.superuserUrl);
  const offset = log.text.length;
  const { status, body } = await send();
  expect(status, JSON.stringify(body)).toBe(400);
  expect(body).toEqual({ errors: [expect.objectContaining({ extensions: { code: 'BAD_USER_INPUT' } })] });
  expect(await everyTenantRowSnapshot(t.db.superuserUrl)).toEqual(before);
  expect(log.errorsSince(offset)).toEqual([]);
}

const json = (query: string, variables?: unknown, extra: object = {}) =>
  JSON.stringify({ query, variables, ...extra });

describe('strings PostgreSQL cannot store', () => {
  it.each([
    ['a NUL', 'a\u0000b'],
    ['a lone high surrogate', 'a\uD800b'],
    ['a lone low surrogate', 'a\uDC00'],
    ['surrogates in the wrong order', '\uDE00\uD83D'],
  ])('%s in a variable is refused before anything runs', async (_name, value) => {
    await expectRefused(() => post(json(CREATE_PROJECT, { n: value })));
    await expectRefused(() =>
      post(
        json('mutation($i: CreateMemberInput!) { createMember(input: $i) { id } }', {
          i: { name: 'x', email: `${value}@example.test` },
        }),
      ),
    );
    await expectRefused(() =>
      post(json('mutation($n: String!) { createApiKey(input: { name: $n }) { secret } }', { n: value })),
    );
  });

  it('a NUL in a string literal, once graphql decodes the escape (plain and block strings)', async () => {
    await expectRefused(() => post(json('mutation { createProject(input: { name: "a\\u0000b" }) { id } }')));
    await expectRefused(() => post(json('mutation { createProject(input: { name: "a\\u{0}b" }) { id } }')));
    await expectRefused(() =>
      post(json('mutation { createProject(input: { name: """a\u0000b""" }) { id } }')),
    );
  });

  it('a NUL anywhere in the request: an object key, operationName, the query text, extensions', async () => {
    const input = 'mutation($i: CreateProjectInput!) { createProject(input: $i) { id } }';
    await expectRefused(() => post(json(input, { i: { 'na\u0000me': 'x' } })));
    await expectRefused(() => post(json(PROJECTS, undefined, { operationName: 'Pro\u0000jects' })));
    await expectRefused(() => post(json(`${PROJECTS} # \u0000`)));
    await expectRefused(() => post(json(PROJECTS, undefined, { extensions: { x: ['\uD800'] } })));
  });

  it('one bad operation refuses the whole batch: its mutation does not run', async () => {
    const batch = JSON.stringify([
      { query: CREATE_PROJECT, variables: { n: 'fine' } },
      { query: PROJECTS, variables: { x: 'a\u0000' } },
    ]);
    await expectRefused(() => post(batch));
  });

  it('over GET too', async () => {
    const url = `http://${HOST}/graphql?query=${encodeURIComponent(PROJECTS)}&variables=${encodeURIComponent(
      JSON.stringify({ x: 'a\u0000' }),
    )}`;
    await expectRefused(async () => {
      const response = await t.app.fetch(url, { headers: { host: HOST, authorization: `Bearer ${token}` } });
      return { status: response.status, body: await response.json() };
    });
  });

  it('well-formed text is stored exactly: emoji (surrogate pairs), other scripts, brackets in strings', async () => {
    for (const name of ['😀 Zoë 中文 ✓', `[[[${'['.repeat(150)} {{ (( # not a comment`]) {
      const res = await post(json(CREATE_PROJECT, { n: name }));
      expect(res.body.data.createProject.name).toBe(name);
    }
  });
});

describe('input too deep to process', () => {
  const deepList = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);

  it('variables nested 200,000 deep, on a query text the response cache already knows', async () => {
    // A known cacheable text is looked up before yoga parses it, under a key that serialises
    // the variables: JSON.stringify overflowed the stack there. Undeclared variables are legal.
    const known = await post(json(PROJECTS));
    expect(known.body.errors).toBeUndefined();
    await expectRefused(() =>
      post(`{"query": ${JSON.stringify(PROJECTS)}, "variables": {"v": ${deepList(200_000)}}}`),
    );
    // The same depth in extensions, which nothing reads but a recursive walk still could.
    await expectRefused(() =>
      post(`{"query": ${JSON.stringify(PROJECTS)}, "extensions": {"x": ${deepList(200_000)}}}`),
    );
  });

  it('a list literal nested 2,400 deep, selections nested 3,000 deep', async () => {
    await expectRefused(() => post(json(`{ projects(first: ${deepList(2_400)}) { totalCount } }`)));
    await expectRefused(() => post(json(`${'{ a '.repeat(3_000)}${'}'.repeat(3_000)}`)));
  });

  it(`nesting up to ${MAX_NESTING} levels passes the guard; one more does not`, async () => {
    // Extensions reach no resolver, so only the guard can refuse them.
    const at = (levels: number) =>
      post(json(PROJECTS, undefined, { extensions: { x: JSON.parse(deepList(levels)) } }));
    expect((await at(MAX_NESTING - 1)).body.data.projects.totalCount).toBeGreaterThanOrEqual(0);
    await expectRefused(() => at(MAX_NESTING));
  });

  it('brackets inside strings, block strings and comments do not count', async () => {
    const text = '['.repeat(MAX_NESTING + 20);
    const query = `{ projects(first: 1, after: null) { totalCount } # ${text}\n tenant { name } }`;
    const res = await post(json(query));
    expect(res.body.errors).toBeUndefined();
    const literal = `mutation { createProject(input: { name: ${JSON.stringify(text)} }) { name } }`;
    expect((await post(json(literal))).body.data.createProject.name).toBe(text);
    const block = `mutation { createProject(input: { name: """${text}\\""" ${text}""" }) { name } }`;
    expect((await post(json(block))).body.data.createProject.name).toBe(`${text}""" ${text}`);
  });
});

describe("a token's subject", () => {
  it.each([
    ['a NUL', 'user\u0000x'],
    ['a newline', 'user\nx'],
    ['DEL', 'user\u007f'],
    ['a lone surrogate', 'user\uD800'],
  ])('with %s is 401 UNAUTHENTICATED, before any database field', async (_name, subject) => {
    const bad = await t.token(2, subject);
    const res = await t.gql(HOST, '{ viewer { subject } projects { totalCount } }', { token: bad });
    expect(res.status).toBe(401);
    expect(res.body.errors?.map((e) => e.extensions?.code)).toEqual(['UNAUTHENTICATED']);
  });

  it('in any script, with spaces and punctuation, is fine', async () => {
    const subject = 'auth0|Zoë Ünïcode 中文 😀';
    const res = await t.gql(HOST, '{ viewer { subject } projects { totalCount } }', {
      token: await t.token(2, subject),
    });
    expect(res.body).toEqual({ data: { viewer: { subject }, projects: { totalCount: expect.any(Number) } } });
  });
});
