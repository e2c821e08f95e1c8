import { type GraphQLSchema, parse, validate } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoAdminSchema as adminSchema } from '../../src/example/admin.js';
import { demoSchema as tenantSchema } from '../../src/example/schema.js';
import { TestApp } from '../helpers/app.js';
import { everyTenantRowSnapshot } from '../helpers/snapshot.js';
import { type StringArgumentCase, stringArguments } from '../helpers/string-arguments.js';

// Issue 11, "a generated test that sends every GraphQL string argument of the schema a NUL":
// every String or ID position of every field argument (root and nested fields, inside input
// objects and lists) of both schemas, as a variable and as a literal. A field added later is
// covered without editing this file. Each answer must be 400 BAD_USER_INPUT with no data, and
// no tenant table may change.
const NUL = 'a\u0000b';

let t: TestApp;
beforeAll(async () => {
  t = await TestApp.start();
});
afterAll(() => t.close());

const schemas: [name: string, schema: GraphQLSchema, host: string, tenantId: number, expected: string[]][] = [
  [
    'tenant',
    tenantSchema,
    'tenant1.localhost',
    2,
    ['Mutation.createProject(input.name)', 'Mutation.createMember(input.email)', 'Project.tasks(after)'],
  ],
  ['admin', adminSchema, 'admin.localhost', 1, ['TenantSummary.projects(after)']],
];

describe.each(schemas)('the %s schema', (_name, schema, host, tenantId, expected) => {
  const { cases, unreachable } = stringArguments(schema, NUL);

  it('has its string arguments all found, each in operations that are otherwise valid', () => {
    expect(unreachable, 'types no argument-free path reaches: extend string-arguments.ts').toEqual([]);
    expect(cases.map((c) => c.label)).toEqual(expect.arrayContaining(expected));
    for (const c of cases) {
      for (const query of [c.withVariables.query, c.withLiteral.query]) {
        expect(validate(schema, parse(query)), `${c.label}: ${query}`).toEqual([]);
      }
    }
  });

  it.each(cases.map((c): [string, StringArgumentCase] => [c.label, c]))(
    '%s refuses a NUL as a variable and as a literal, writing nothing',
    async (_label, c) => {
      const token = await t.token(tenantId);
      for (const body of [c.withVariables, c.withLiteral]) {
        const before = await everyTenantRowSnapshot(t.db.superuserUrl);
        const response = await t.app.fetch(`http://${host}/graphql`, {
          method: 'POST',
          headers: { host, 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify(body),
        });
        const answer = (await response.json()) as {
          data?: unknown;
          errors?: { extensions?: { code?: string } }[];
        };
        expect(response.status, `${body.query} ${JSON.stringify(answer)}`).toBe(400);
        expect(answer.data).toBeUndefined();
        expect(answer.errors?.map((e) => e.extensions?.code)).toEqual(['BAD_USER_INPUT']);
        expect(await everyTenantRowSnapshot(t.db.superuserUrl)).toEqual(before);
      }
    },
  );
});
