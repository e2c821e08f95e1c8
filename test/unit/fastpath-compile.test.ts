import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import type { Context } from '../../src/context.js';
import { demoSchema } from '../../src/example/schema.js';
import type { Catalog, Column, Table } from '../../src/fastpath/catalog.js';
import { compile } from '../../src/fastpath/compile.js';
import { requestValues } from '../../src/fastpath/request-values.js';
import { statementFor } from '../../src/fastpath/sql.js';
import { nodeTypeSource } from '../../src/graphql/types/node.js';
import { operationFor, rootFields } from '../helpers/schema-operations.js';

// What compiles and what does not, without a database: the demo's tables as the catalog reads them.
const column = (name: string, type: string, notNull = true): [string, Column] => [
  name,
  { name, type, isEnum: false, notNull },
];
const table = (name: string, columns: [string, Column][]): Table => ({
  name,
  columns: new Map([column('tenant_id', 'int4'), column('id', 'int8'), ...columns]),
});
const TABLES = new Map<string, Table>([
  ['app.projects', table('app.projects', [column('name', 'text'), column('created_at', 'timestamptz')])],
  [
    'app.tasks',
    table('app.tasks', [
      column('project_id', 'int8'),
      column('title', 'text'),
      column('status', 'text'),
      column('assignee_id', 'int8', false),
      column('created_at', 'timestamptz'),
      column('updated_at', 'timestamptz'),
    ]),
  ],
  ['app.members', table('app.members', [column('name', 'text'), column('email', 'text')])],
]);
const catalog = (overrides: Partial<Catalog> = {}): Catalog => ({
  table: (name) => TABLES.get(name),
  isoDates: true,
  ...overrides,
});
const reason = (query: string, options: { catalog?: Catalog; operationName?: string } = {}) => {
  const plan = compile(
    demoSchema,
    parse(query),
    options.operationName,
    options.catalog ?? catalog(),
    nodeTypeSource,
  );
  return 'declined' in plan ? plan.declined : undefined;
};

const C =
  '{ projects(first: 20) { edges { node { name tasks(first: 10) { edges { node { title status assignee { name } } } } } } } }';

describe('what the fast path compiles', () => {
  it('the nested read, the demo declarations, connections, rows by id, node', () => {
    expect(reason(C)).toBeUndefined();
    expect(
      reason('{ task(id: "x") { id status createdAt project { id name createdAt } assignee { name } } }'),
    ).toBeUndefined();
    expect(
      reason('{ node(id: "x") { __typename id ... on Project { name } ... on Task { title } } }'),
    ).toBeUndefined();
    expect(reason('{ tenant { __typename id subdomain name } projects { totalCount } }')).toBeUndefined();
    expect(
      reason('{ members { totalCount edges { node { id name tasks { edges { node { title } } } } } } }'),
    ).toBeUndefined();
  });

  it('declines, with the reason, what it cannot answer exactly', () => {
    expect(reason('mutation { deleteTask(id: "x") }')).toBe('a mutation');
    expect(reason('subscription { taskChanged { kind } }')).toBe('a subscription');
    expect(
      reason('{ projects { edges { node { tasks { edges { node { assignee { email } } } } } } } }'),
    ).toBe('Member.email has a resolver of its own');
    expect(reason('{ members { edges { node { name email } } } }')).toBe(
      'Member.email has a resolver of its own',
    );
    expect(reason('{ viewer { roles } }')).toBe('Query.viewer has a resolver of its own');
    expect(reason('{ projects { totalCount @skip(if: false) } }')).toBe('directive @skip');
    expect(reason('{ __type(name: "Project") { name } }')).toBe('introspection');
    expect(reason('query A { __typename } query B { __typename }')).toBe('no such operation');
    expect(reason('{ __typename }', { operationName: 'Nope' })).toBe('no such operation');
  });

  it('every mutation of the schema replay is declined', () => {
    for (const root of rootFields(demoSchema).filter((r) => r.kind === 'mutation')) {
      expect(reason(operationFor(demoSchema, root)), root.field.name).toBe('a mutation');
    }
  });

  it('follows the catalog: a missing column, or timestamps in a DateStyle it cannot write', () => {
    const withoutName = new Map(TABLES);
    withoutName.set('app.projects', table('app.projects', [column('created_at', 'timestamptz')]));
    expect(
      reason('{ projects { edges { node { name } } } }', {
        catalog: catalog({ table: (n) => withoutName.get(n) }),
      }),
    ).toBe('app.projects has no column name');
    expect(
      reason('{ projects { edges { node { createdAt } } } }', { catalog: catalog({ isoDates: false }) }),
    ).toBe('Project.createdAt: DateTime with a DateStyle other than ISO');
  });
});

/** What requestValues reads of a request's context: its tenant. */
const contextOf = (id: number, name = `Tenant ${id}`) =>
  ({ tenant: { id, subdomain: `t${id}`, name } }) as unknown as Context;

describe('the statement', () => {
  const statement = (query: string, variables: Record<string, unknown>, inline = false) => {
    const plan = compile(demoSchema, parse(query), undefined, catalog(), nodeTypeSource);
    if ('declined' in plan) throw new Error(plan.declined);
    return statementFor(
      plan,
      requestValues(demoSchema, plan, variables, contextOf(2), nodeTypeSource),
      inline,
    );
  };

  it('the same text for every request of a plan, the values as parameters', () => {
    const query =
      'query($n: Int, $after: String) { projects(first: $n, after: $after) { edges { node { id name } } } }';
    const a = statement(query, { n: 5, after: 'MTI' });
    const b = statement(query, { n: 7, after: 'OTk' });
    expect(a.text).toBe(b.text);
    expect(a.params).toEqual(['5', 'Project:2:', '12']);
    expect(b.params).toEqual(['7', 'Project:2:', '99']);
    expect(a.types).toEqual(['int', 'text', 'bigint']);
  });

  it('a text is kept per shape: a cursor or none, a filter or none, the type node(id) names', () => {
    const plan = (query: string) => {
      const compiled = compile(demoSchema, parse(query), undefined, catalog(), nodeTypeSource);
      if ('declined' in compiled) throw new Error(compiled.declined);
      return compiled;
    };
    const run = (p: ReturnType<typeof plan>, variables: Record<string, unknown>) =>
      statementFor(p, requestValues(demoSchema, p, variables, contextOf(2), nodeTypeSource));
    const paged = plan(
      'query($after: String, $s: TaskStatus) { projects(after: $after) { pageInfo { hasPreviousPage } edges { node { tasks(status: $s) { totalCount } } } } }',
    );
    const shapes = [{}, { after: 'MTI' }, { s: 'DONE' }, { after: 'OTk', s: 'TODO' }];
    const first = shapes.map((v) => run(paged, v));
    expect(new Set(first.map((st) => st.text)).size).toBe(4);
    for (let round = 0; round < 3; round++) {
      shapes.forEach((v, i) => {
        const again = run(paged, v);
        expect(again.text).toBe(first[i]!.text);
        expect(again.params).toEqual(first[i]!.params);
      });
    }
    expect(first[0]!.text).toContain(`"hasPreviousPage":' || ('false')`);
    expect(first[1]!.text).toContain(`"hasPreviousPage":' || ('true')`);
    const node = plan(
      'query($id: ID!) { node(id: $id) { id ... on Project { name } ... on Task { title } } }',
    );
    const ids = { project: 'UHJvamVjdDoyOjc', task: 'VGFzazoyOjg', none: 'nope' };
    const byType = Object.fromEntries(Object.entries(ids).map(([k, id]) => [k, run(node, { id })]));
    expect(byType.none!.constant).toBe('{"data":{"node":null}}');
    expect(byType.project!.text).toContain('"app"."projects"');
    expect(byType.task!.text).toContain('"app"."tasks"');
    expect(run(node, { id: ids.project }).text).toBe(byType.project!.text);
    expect(run(node, { id: ids.task }).params).toEqual(byType.task!.params);
  });

  it('inline, the values are quoted literals; no value reaches the text unquoted', () => {
    const { text, params } = statement(
      'query($s: TaskStatus) { projects { edges { node { tasks(status: $s) { totalCount } } } } }',
      { s: 'DONE' },
      true,
    );
    expect(params).toEqual([]);
    expect(text).toContain(`"status"::text = 'DONE'::text`);
  });

  it('an answer known without rows is written without a statement', () => {
    expect(statement('{ __typename a: project(id: "nope") { id } }', {}).constant).toBe(
      '{"data":{"__typename":"Query","a":null}}',
    );
  });

  it('what the request holds (Query.tenant) is written by Node: a parameter, or no statement at all', () => {
    const plan = compile(
      demoSchema,
      parse('{ t: tenant { name id __typename } }'),
      undefined,
      catalog(),
      nodeTypeSource,
    );
    if ('declined' in plan) throw new Error(plan.declined);
    const alone = (ctx: Context) =>
      statementFor(plan, requestValues(demoSchema, plan, {}, ctx, nodeTypeSource));
    expect(alone(contextOf(2, 'Acme "quoted" \\ ü')).constant).toBe(
      '{"data":{"t":{"name":"Acme \\"quoted\\" \\\\ ü","id":2,"__typename":"Tenant"}}}',
    );
    // The kept text is reused, and the next tenant's body is its own.
    expect(alone(contextOf(3)).constant).toBe(
      '{"data":{"t":{"name":"Tenant 3","id":3,"__typename":"Tenant"}}}',
    );

    const mixed = statement('{ tenant { id } projects { totalCount } }', {});
    expect(mixed.constant).toBeUndefined();
    expect(mixed.params).toContain('{"id":2}');
    expect(mixed.text).not.toContain('Tenant 2');
    expect(statement('{ tenant { id } projects { totalCount } }', {}, true).text).toContain(
      `'{"id":2}'::text`,
    );
  });
});
