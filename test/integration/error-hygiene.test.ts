import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeGlobalId } from '../../src/graphql/ids.js';
import { type GraphQLResponse, TestApp } from '../helpers/app.js';
import { withClient } from '../helpers/db.js';

/**
 * Provokes every kind of database and input error and greps the whole response body: a masked
 * error never carries SQL, schema names, constraint names, DETAIL, stack traces or another
 * tenant's values. Tenant 2 (tenant1.localhost) is the caller; tenant 3 holds the secrets.
 */
const HOST = 'tenant1.localhost';
const OTHER_HOST = 'tenant2.localhost';
const SECRET_EMAIL = 'canary-7f3a@tenant-three.test';
const SECRET_PROJECT = 'CANARY-PROJECT-7f3a';

// Test-only constraints and a trigger that raises what a careless schema or function could:
// messages quoting SQL, DETAIL with another tenant's values (read past RLS: the function is
// SECURITY DEFINER and owned by the superuser), and SQLSTATEs the server maps.
const PROVOCATIONS = `
  CREATE UNIQUE INDEX projects_test_unique_dup_name ON app.projects (tenant_id, name) WHERE name LIKE 'dup-%';
  ALTER TABLE app.projects ADD CONSTRAINT projects_test_not_banned CHECK (name <> 'banned');
  ALTER TABLE app.tasks ALTER COLUMN title TYPE varchar(50);
  CREATE FUNCTION app.test_raise() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog AS $$
  DECLARE secret text;
  BEGIN
    SELECT string_agg(m.email || ' ' || p.name, ',') INTO secret
      FROM app.members m JOIN app.projects p USING (tenant_id) WHERE m.tenant_id <> NEW.tenant_id;
    CASE NEW.name
      WHEN 'raise-plain' THEN RAISE EXCEPTION 'SELECT * FROM app.members WHERE email = %', secret
        USING DETAIL = secret, HINT = 'see constraint members_pkey';
      WHEN 'raise-unique' THEN RAISE unique_violation USING CONSTRAINT = 'members_tenant_id_email_hash_key',
        MESSAGE = 'duplicate key value violates unique constraint', DETAIL = 'Key (email)=(' || secret || ')';
      WHEN 'raise-fk' THEN RAISE foreign_key_violation USING MESSAGE = 'violates foreign key ' || secret,
        DETAIL = secret, CONSTRAINT = 'tasks_tenant_id_project_id_fkey';
      WHEN 'raise-not-null' THEN RAISE not_null_violation USING MESSAGE = 'null value in column ' || secret;
      WHEN 'raise-division' THEN PERFORM 1 / 0;
      WHEN 'raise-slow' THEN PERFORM pg_sleep(3);
      ELSE NULL;
    END CASE;
    RETURN NEW;
  END $$;
  CREATE TRIGGER test_raise BEFORE INSERT ON app.projects FOR EACH ROW EXECUTE FUNCTION app.test_raise();`;

let t: TestApp;
let token: string;
let forbidden: RegExp[];
let foreignProject: string;
let foreignMember: string;
let tableNames: RegExp;

beforeAll(async () => {
  t = await TestApp.start();
  token = await t.token(2);
  const other = { token: await t.token(3) };
  foreignProject = (
    await t.gql(OTHER_HOST, 'mutation($n: String!) { createProject(input: { name: $n }) { id } }', {
      ...other,
      variables: { n: SECRET_PROJECT },
    })
  ).body.data!.createProject.id;
  foreignMember = (
    await t.gql(
      OTHER_HOST,
      'mutation($e: String!) { createMember(input: { name: "Canary", email: $e }) { id } }',
      {
        ...other,
        variables: { e: SECRET_EMAIL },
      },
    )
  ).body.data!.createMember.id;
  await t.gql(
    HOST,
    'mutation { createMember(input: { name: "Own", email: "own@tenant-one.test" }) { id } }',
    {
      token,
    },
  );

  const names = await withClient(t.db.superuserUrl, async (c) => {
    await c.query(PROVOCATIONS);
    // Every constraint and index name of the app schema (test-only ones included) may appear
    // nowhere; table names only in no message (GraphQL paths legitimately say "projects").
    const { rows } = await c.query<{ names: string[]; tables: string[] }>(
      `SELECT array_agg(DISTINCT name) AS names, array_agg(DISTINCT relname) AS tables FROM (
         SELECT conname::text AS name, NULL::text AS relname FROM pg_constraint
         WHERE connamespace = 'app'::regnamespace
         UNION ALL SELECT CASE WHEN relkind = 'i' THEN relname::text END,
           CASE WHEN relkind = 'r' THEN relname::text END FROM pg_class
         WHERE relnamespace = 'app'::regnamespace AND relkind IN ('r', 'i')) n`,
    );
    return rows[0]!;
  });
  const literal = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  forbidden = [
    /\b(SELECT|INSERT INTO|UPDATE app|DELETE FROM|WHERE|RETURNING|ROLLBACK)\b/,
    /DETAIL|HINT|SQLSTATE|duplicate key|violates|constraint|relation "|syntax error at|division by zero/i,
    /\bapp\.\w|set_config|current_setting|pg_sleep|plpgsql|statement timeout|canceling statement/i,
    /"stack"|\n\s+at |\.ts:\d+|node_modules|originalError/,
    new RegExp(`${literal(SECRET_EMAIL)}|${literal(SECRET_PROJECT)}|canary`, 'i'),
    new RegExp(`\\b(${names.names.filter(Boolean).map(literal).join('|')})\\b`),
  ];
  tableNames = new RegExp(`\\b(${names.tables.filter(Boolean).map(literal).join('|')})\\b`);
});
afterAll(() => t.close());

const CODES = [
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'BAD_USER_INPUT',
  'TIMEOUT',
  'INTERNAL_SERVER_ERROR',
];

/** The response failed with `code`, and nothing in its body betrays the database or tenant 3. */
function expectClean(res: GraphQLResponse, code: string): void {
  const text = JSON.stringify(res.body);
  for (const pattern of forbidden) expect(text, `${pattern} in ${text}`).not.toMatch(pattern);
  expect(res.body.errors?.length, text).toBeGreaterThan(0);
  for (const error of res.body.errors ?? []) {
    expect(CODES).toContain(error.extensions?.code);
    expect(error.message, text).not.toMatch(tableNames);
    expect(Object.keys(error.extensions ?? {}).filter((k) => k !== 'code' && k !== 'http')).toEqual([]);
  }
  expect(res.body.errors?.[0]?.extensions?.code, text).toBe(code);
}

const createProject = (name: string, host = HOST) =>
  t.gql(host, 'mutation($n: String!) { createProject(input: { name: $n }) { id name } }', {
    token,
    variables: { n: name },
  });

describe('masked errors carry no SQL, schema names, stack traces or foreign values', () => {
  it('unique violations: a mapped one gets its message, an unmapped one a generic one', async () => {
    const dup = 'mutation { createMember(input: { name: "Dup", email: "OWN@tenant-one.test" }) { id } }';
    const duplicate = await t.gql(HOST, dup, { token });
    expectClean(duplicate, 'BAD_USER_INPUT');
    // The message the demo registered for its unique index (registerUniqueMessage).
    expect(duplicate.body.errors?.[0]?.message).toBe('A member with this email already exists.');
    expect((await createProject('dup-1')).body.errors).toBeUndefined();
    expectClean(await createProject('dup-1'), 'BAD_USER_INPUT');
    expectClean(await createProject('raise-unique'), 'BAD_USER_INPUT');
    // Another tenant's email is no oracle: taking it here succeeds.
    const same = await t.gql(
      HOST,
      'mutation($e: String!) { createMember(input: { name: "x", email: $e }) { id } }',
      {
        token,
        variables: { e: SECRET_EMAIL },
      },
    );
    expect(same.body.errors).toBeUndefined();
  });

  it('foreign key violations (ids of another tenant) are NOT_FOUND', async () => {
    const [project] = [(await createProject('own-project')).body.data!.createProject.id];
    const task =
      'mutation($p: ID!, $a: ID) { createTask(input: { projectId: $p, title: "t", assigneeId: $a }) { id } }';
    expectClean(await t.gql(HOST, task, { token, variables: { p: foreignProject } }), 'NOT_FOUND');
    expectClean(await t.gql(HOST, task, { token, variables: { p: project, a: foreignMember } }), 'NOT_FOUND');
    expectClean(await createProject('raise-fk'), 'NOT_FOUND');
  });

  it('a foreign key that fails names the type of the table it references, read from the catalog', async () => {
    // Well-formed ids of this tenant for rows that do not exist: they pass the id checks, and
    // only the composite foreign keys of app.tasks refuse them.
    const project = (await createProject('fk-names')).body.data!.createProject.id;
    const task =
      'mutation($p: ID!, $a: ID) { createTask(input: { projectId: $p, title: "t", assigneeId: $a }) { id } }';
    const missingProject = encodeGlobalId('Project', 2, '987654321');
    const missingMember = encodeGlobalId('Member', 2, '987654321');
    const noProject = await t.gql(HOST, task, { token, variables: { p: missingProject } });
    expectClean(noProject, 'NOT_FOUND');
    expect(noProject.body.errors?.[0]?.message).toBe('Project not found.');
    const noMember = await t.gql(HOST, task, { token, variables: { p: project, a: missingMember } });
    expectClean(noMember, 'NOT_FOUND');
    expect(noMember.body.errors?.[0]?.message).toBe('Member not found.');
  });

  it('check, not-null and length violations are BAD_USER_INPUT', async () => {
    expectClean(await createProject('banned'), 'BAD_USER_INPUT');
    expectClean(await createProject('raise-not-null'), 'BAD_USER_INPUT');
    const project = (await createProject('long-titles')).body.data!.createProject.id;
    const long = await t.gql(
      HOST,
      'mutation($p: ID!, $t: String!) { createTask(input: { projectId: $p, title: $t }) { id } }',
      {
        token,
        variables: { p: project, t: 'x'.repeat(60) },
      },
    );
    expectClean(long, 'BAD_USER_INPUT');
  });

  it('unexpected database errors are INTERNAL_SERVER_ERROR with nothing of the original', async () => {
    expectClean(await createProject('raise-plain'), 'INTERNAL_SERVER_ERROR');
    expectClean(await createProject('raise-division'), 'INTERNAL_SERVER_ERROR');
  });

  it('a statement timeout is TIMEOUT', async () => {
    const res = await t.gql(OTHER_HOST, 'mutation { createProject(input: { name: "raise-slow" }) { id } }', {
      token: await t.token(3),
    });
    expect(res.body.errors?.[0]?.extensions?.code).toBe('TIMEOUT');
    // tenant 3's own values may appear on its own host; the rest of the hygiene still holds.
    expect(JSON.stringify(res.body)).not.toMatch(/SELECT|pg_sleep|statement timeout|canceling/i);
  });

  it('invalid cursors and page sizes are BAD_USER_INPUT', async () => {
    const page = 'query($f: Int, $a: String) { projects(first: $f, after: $a) { edges { node { id } } } }';
    const b64 = (s: string) => Buffer.from(s).toString('base64url');
    for (const after of [
      '!!',
      '',
      b64('1; DROP TABLE app.projects'),
      b64("1' OR '1'='1"),
      b64('-1'),
      b64('1e3'),
    ]) {
      expectClean(await t.gql(HOST, page, { token, variables: { a: after } }), 'BAD_USER_INPUT');
    }
    for (const first of [-1, 101, 2_147_483_647]) {
      expectClean(await t.gql(HOST, page, { token, variables: { f: first } }), 'BAD_USER_INPUT');
    }
  });

  it('invalid ids read as missing and fail mutations with NOT_FOUND', async () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64url');
    const ids = [
      '',
      'garbage',
      'x'.repeat(5_000),
      encodeGlobalId('Project', 2, '0'),
      encodeGlobalId('Project', 2, "1' OR '1'='1"),
      encodeGlobalId('Project', 2, '99999999999999999999'),
      encodeGlobalId('Project; DROP TABLE app.projects', 2, '1'),
      b64('Project:2:\u0000'),
      b64('Project:1'),
      b64('Project:0:1'),
      b64('Project:02:1'),
      b64('Project:2:1:1'),
      b64('Project:2147483650:1'),
      foreignProject,
    ];
    for (const id of ids) {
      const read = await t.gql(
        HOST,
        'query($id: ID!) { project(id: $id) { id name } node(id: $id) { id } }',
        {
          token,
          variables: { id },
        },
      );
      expect(read.body).toEqual({ data: { project: null, node: null } });
      const write = await t.gql(HOST, 'mutation($id: ID!) { deleteProject(id: $id) }', {
        token,
        variables: { id },
      });
      expectClean(write, 'NOT_FOUND');
      const update = await t.gql(
        HOST,
        'mutation($id: ID!) { updateTask(input: { id: $id, title: "x" }) { id } }',
        {
          token,
          variables: { id },
        },
      );
      expectClean(update, 'NOT_FOUND');
    }
  });

  it("invalid JSON is BAD_USER_INPUT without the JSON parser's message, which quotes the body", async () => {
    const response = await t.app.fetch(`http://${HOST}/graphql`, {
      method: 'POST',
      headers: { host: HOST, 'content-type': 'application/json' },
      body: `{"query": "{ tenant { id } }", ${SECRET_PROJECT}`,
    });
    expect(response.status).toBe(400);
    const body = await response.json();
    expect(body).toEqual({
      errors: [{ message: expect.any(String), extensions: { code: 'BAD_USER_INPUT' } }],
    });
    expect(JSON.stringify(body)).not.toMatch(/SyntaxError|Unexpected token|not valid JSON/);
    expectClean({ status: response.status, headers: response.headers, body }, 'BAD_USER_INPUT');
  });

  it('after all that, the connection pool still serves both tenants their own rows', async () => {
    const mine = await t.gql(HOST, '{ projects(first: 100) { edges { node { name } } } }', { token });
    expect(JSON.stringify(mine.body)).not.toMatch(/CANARY/);
    const theirs = await t.gql(OTHER_HOST, '{ projects(first: 100) { edges { node { name } } } }', {
      token: await t.token(3),
    });
    expect(theirs.body.data!.projects.edges.map((e: { node: { name: string } }) => e.node.name)).toEqual([
      SECRET_PROJECT,
    ]);
  });
});
