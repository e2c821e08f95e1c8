import type { GraphQLSchema } from 'graphql';
import { encodeCursor, encodeGlobalId } from '../../src/graphql/ids.js';
import { PROJECT, TASK } from './isolation-commands.js';
import { buildVariables, idPaths, operationFor, rootFields } from './schema-operations.js';

/**
 * The queries the fast path is compared on (test/integration/fastpath.test.ts): hand-written
 * ones for every shape it compiles and every error the resolvers answer, the isolation
 * property test's reads (isolation-reads.ts, isolation-commands.ts) and the schema replay's
 * generated operations (schema-operations.ts, as cross-tenant-replay.test.ts builds them).
 */
export type Who = 'user' | 'anonymous' | 'service' | 'apiKey' | 'otherUser';

export interface Case {
  readonly name: string;
  readonly query: string;
  readonly variables?: Record<string, unknown>;
  readonly operationName?: string;
  /** @default 'user' */
  readonly who?: Who;
  /** The fast path must answer it (true), must not (false), or either (undefined). */
  readonly fast?: boolean;
}

/** Row ids of the seeded data, as the corpus needs them. */
export interface SeededIds {
  readonly tenantId: number;
  readonly otherTenantId: number;
  readonly projects: readonly string[];
  readonly tasks: readonly string[];
  readonly unassignedTask: string;
  readonly members: readonly string[];
  readonly otherProject: string;
}

const C =
  '{ projects(first: 20) { edges { node { name tasks(first: 10) { edges { node { title status assignee { name } } } } } } } }';
const PAGE = `totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }`;

export function handWritten(ids: SeededIds): Case[] {
  const project = (id: string) => encodeGlobalId('Project', ids.tenantId, id);
  const task = (id: string) => encodeGlobalId('Task', ids.tenantId, id);
  const member = (id: string) => encodeGlobalId('Member', ids.tenantId, id);
  const foreign = encodeGlobalId('Project', ids.otherTenantId, ids.otherProject);
  const missing = encodeGlobalId('Project', ids.tenantId, '999999999999');
  const third = encodeCursor(ids.projects[2]!);
  const last = encodeCursor(ids.projects.at(-1)!);
  return [
    { name: 'C, the bench query', query: C, fast: true },
    { name: 'C with an operation name', query: `query Nested ${C}`, fast: true },
    {
      name: 'every connection part',
      query: `{ projects(first: 3) { __typename ${PAGE} edges { __typename cursor node { __typename id name createdAt
        tasks(first: 2) { __typename ${PAGE} edges { cursor node { __typename id title status createdAt updatedAt
          project { __typename id name createdAt } assignee { __typename name } } } } } } } }`,
      fast: true,
    },
    {
      name: 'pages by variables, after a cursor',
      query: `query($n: Int, $after: String) { projects(first: $n, after: $after) { ${PAGE} edges { cursor node { id name } } } }`,
      variables: { n: 2, after: third },
      fast: true,
    },
    {
      name: 'after the last row',
      query: `{ projects(after: "${last}") { ${PAGE} edges { node { id } } } }`,
      fast: true,
    },
    { name: 'first: 0', query: `{ projects(first: 0) { ${PAGE} edges { node { id } } } }`, fast: true },
    {
      name: 'first: 100',
      query: `{ projects(first: 100) { totalCount edges { node { name } } } }`,
      fast: true,
    },
    { name: 'default page size', query: '{ projects { edges { node { name } } } }', fast: true },
    { name: 'only totalCount', query: '{ projects { totalCount } }', fast: true },
    {
      name: 'only pageInfo',
      query: '{ projects(first: 1) { pageInfo { hasNextPage endCursor } } }',
      fast: true,
    },
    {
      name: 'pageInfo without a row',
      query: `{ projects(first: 2, after: "${third}") { pageInfo { __typename hasPreviousPage } } p: projects { pageInfo { hasPreviousPage } } }`,
      fast: true,
    },
    {
      name: 'status filter, literal and variable, null',
      query: `query($s: TaskStatus) { projects(first: 4) { edges { node { done: tasks(status: DONE) { totalCount edges { node { status } } }
        byVar: tasks(first: 3, status: $s) { totalCount edges { node { title status } } }
        all: tasks(first: 3, status: null) { totalCount } } } } }`,
      variables: { s: 'IN_PROGRESS' },
      fast: true,
    },
    {
      name: 'aliases, merged fields, fragments',
      query: `query Q { ...Root a: projects(first: 2) { edges { node { ...P } } } projects(first: 2) { edges { node { id } } } }
        fragment Root on Query { projects(first: 2) { edges { node { name ... on Project { createdAt } } } } __typename }
        fragment P on Project { n: name id ... on Node { id } }`,
      fast: true,
    },
    {
      name: 'two node aliases under one edge, two edges aliases',
      query: '{ projects(first: 2) { e1: edges { a: node { name } b: node { id } } e2: edges { cursor } } }',
      fast: true,
    },
    {
      name: 'project by id',
      query: `{ project(id: "${project(ids.projects[1]!)}") { ${PROJECT} createdAt } }`,
      fast: true,
    },
    {
      name: 'project by id, variable, with tasks',
      query:
        'query($id: ID!) { project(id: $id) { __typename id name tasks(first: 100) { totalCount edges { node { __typename id title } } } } }',
      variables: { id: project(ids.projects[0]!) },
      fast: true,
    },
    { name: "another tenant's project", query: `{ project(id: "${foreign}") { id name } }`, fast: true },
    { name: 'a missing project', query: `{ project(id: "${missing}") { id name } }`, fast: true },
    // Answers known without a row: no connection borrowed, as the resolvers borrow none.
    {
      name: 'a malformed id',
      query: '{ project(id: "not-an-id") { id } p2: project(id: 17) { id } }',
      fast: true,
    },
    {
      name: 'a task id for project()',
      query: `{ project(id: "${task(ids.tasks[0]!)}") { id } }`,
      fast: true,
    },
    {
      name: 'task by id, assigned',
      query: `{ task(id: "${task(ids.tasks[1]!)}") { id title status project { id name } assignee { name } createdAt updatedAt } }`,
      fast: true,
    },
    {
      name: 'task by id, unassigned',
      query: `{ task(id: "${task(ids.unassignedTask)}") { id assignee { name } } }`,
      fast: true,
    },
    {
      name: 'node: a project, a task, missing, foreign, unknown type',
      query: `{ a: node(id: "${project(ids.projects[0]!)}") { __typename id ... on Project { name } ... on Task { title } }
        b: node(id: "${task(ids.tasks[0]!)}") { __typename id ... on Task { title status project { id } } }
        c: node(id: "${missing}") { id } d: node(id: "${foreign}") { id }
        e: node(id: "${encodeGlobalId('Nothing', ids.tenantId, '1')}") { id } }`,
      fast: true,
    },
    {
      name: 'node: a member',
      query: `{ node(id: "${member(ids.members[0]!)}") { id ... on Member { name tasks { totalCount } } } }`,
      fast: true,
    },
    { name: '__typename alone', query: '{ __typename }', fast: true },
    { name: 'anonymous __typename', query: '{ __typename }', who: 'anonymous', fast: true },
    // Query.tenant: what the request holds, written by Node into the statement (or with none).
    { name: 'tenant with C (the reload bench)', query: `{ tenant { id } ${C.slice(1, -1)} }`, fast: true },
    {
      name: 'the README query',
      query:
        '{ tenant { id name } projects(first: 5) { edges { node { id name tasks(first: 5) { totalCount edges { node { title status assignee { name } } } } } } } }',
      fast: true,
    },
    { name: 'tenant alone', query: '{ tenant { __typename id subdomain name } }', fast: true },
    { name: 'tenant, anonymous', query: '{ tenant { name } }', who: 'anonymous', fast: true },
    { name: 'tenant, an API key', query: '{ tenant { id } }', who: 'apiKey', fast: true },
    // Refused before GraphQL runs (403), on both apps alike: the host's tenant is never written for a stranger.
    {
      name: "tenant, another tenant's token",
      query: '{ tenant { id name } }',
      who: 'otherUser',
      fast: false,
    },
    {
      name: 'tenant twice, aliases and fragments, between other fields',
      query: `fragment T on Tenant { name ... on Tenant { id } }
        { a: tenant { ...T } projects(first: 1) { totalCount } b: tenant { subdomain ...T sub: subdomain } __typename }`,
      fast: true,
    },
    {
      name: 'tenant and a missing project',
      query: `{ tenant { id } project(id: "${missing}") { id } }`,
      fast: true,
    },
    // Not compiled: the request runs on the resolvers, whole.
    { name: 'tenant with viewer', query: '{ tenant { id } viewer { roles } }', fast: false },
    {
      name: 'Member.email is decrypted',
      query:
        '{ projects(first: 3) { edges { node { tasks { edges { node { assignee { name email } } } } } } } }',
      fast: false,
    },
    {
      name: 'members, their ids and their tasks',
      query:
        '{ members(first: 3) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { __typename id name tasks(first: 2) { totalCount edges { node { title assignee { id } } } } } } } }',
      fast: true,
    },
    {
      name: 'members, the next page',
      query: `{ members(first: 2, after: "${encodeCursor(ids.members[0]!)}") { edges { node { id } } } }`,
      fast: true,
    },
    {
      name: 'members with email (decrypted)',
      query: '{ members(first: 3) { edges { node { name email } } } }',
      fast: false,
    },
    {
      name: 'a directive',
      query: '{ projects(first: 2) { edges { node { name @include(if: true) } } } }',
      fast: false,
    },
    {
      name: 'introspection',
      query: '{ __schema { queryType { name } } projects { totalCount } }',
      fast: false,
    },
    // Errors: the resolvers answer them, unchanged.
    { name: 'first: 101', query: '{ projects(first: 101) { edges { node { name } } } }', fast: false },
    { name: 'first: -1', query: '{ projects(first: -1) { totalCount } }', fast: false },
    { name: 'a bad cursor', query: '{ projects(after: "!!") { totalCount } }', fast: false },
    {
      name: 'a cursor that is not a row id',
      query: `{ projects(after: "${encodeCursor('abc')}") { totalCount } }`,
      fast: false,
    },
    {
      name: 'a bad nested first',
      query: '{ projects(first: 2) { edges { node { tasks(first: 500) { totalCount } } } } }',
      fast: false,
    },
    {
      name: 'a bad nested first under no rows',
      query: `{ projects(after: "${last}") { edges { node { tasks(first: 500) { totalCount } } } } }`,
    },
    {
      name: 'a variable of the wrong type',
      query: 'query($n: Int!) { projects(first: $n) { totalCount } }',
      variables: { n: 'x' },
      fast: false,
    },
    {
      name: 'a missing required variable',
      query: 'query($n: Int!) { projects(first: $n) { totalCount } }',
      fast: false,
    },
    { name: 'anonymous', query: C, who: 'anonymous', fast: false },
    { name: 'a service of a granted virtual tenant', query: C, who: 'service', fast: true },
    { name: 'an API key', query: C, who: 'apiKey', fast: true },
    { name: "another tenant's token", query: C, who: 'otherUser', fast: false },
    { name: 'an unknown field', query: '{ projects { nope } }', fast: false },
    {
      name: 'too deep',
      query: `{ projects { edges { node { tasks { edges { node { project { tasks { edges { node { project { tasks { edges { node { project { name } } } } } } } } } } } } } } } }`,
    },
    {
      name: 'two operations, one chosen',
      query: 'query A { projects(first: 1) { totalCount } } query B { project(id: "x") { id } }',
      operationName: 'B',
      fast: true,
    },
    {
      name: 'two operations, none chosen',
      query: 'query A { __typename } query B { __typename }',
      fast: false,
    },
  ];
}

/** The isolation property test's reads (isolation-reads.ts), with the ids of this data. */
export function isolationReads(ids: SeededIds): Case[] {
  const NODE = `__typename id ... on Project { name } ... on Task { title status project { __typename id } }
  ... on Member { email tasks(first: 100) { edges { node { __typename id } } } }`;
  const byId = (field: string, selection: string, id: string): Case => ({
    name: `ReadById ${field} ${id}`,
    query: `query($id: ID!) { ${field}(id: $id) { ${selection} } }`,
    variables: { id },
  });
  const project = encodeGlobalId('Project', ids.tenantId, ids.projects[0]!);
  const task = encodeGlobalId('Task', ids.tenantId, ids.tasks[0]!);
  const member = encodeGlobalId('Member', ids.tenantId, ids.members[0]!);
  const foreign = encodeGlobalId('Project', ids.otherTenantId, ids.otherProject);
  const list = (kind: 'projects' | 'members', n: number, after: string | null): Case => ({
    name: `List ${kind} by ${n} after ${after}`,
    query: `query($n: Int, $after: String) { ${kind}(first: $n, after: $after) {
      totalCount pageInfo { hasNextPage endCursor } edges { cursor node { __typename id ${kind === 'projects' ? 'name' : 'email'} } } } }`,
    variables: { n, after },
  });
  return [
    ...[project, task, member, foreign].map((id) => byId('node', NODE, id)),
    byId(
      'project',
      '__typename id name tasks(first: 100) { totalCount edges { node { __typename id title } } }',
      project,
    ),
    byId(
      'project',
      '__typename id name tasks(first: 100) { totalCount edges { node { __typename id title } } }',
      foreign,
    ),
    byId('task', TASK, task),
    list('projects', 100, null),
    list('projects', 1, null),
    list('projects', 2, encodeCursor(ids.projects[1]!)),
    list('members', 3, null),
    {
      name: 'Burst',
      query: '{ projects(first: 100) { edges { node { __typename id name } } } }',
      fast: true,
    },
    {
      name: 'WrongCredential',
      query: '{ projects { edges { node { __typename id name } } } }',
      who: 'otherUser',
    },
  ];
}

/** The schema replay's operations for every Query field, with each ID argument own, foreign and missing. */
export function schemaReplay(schema: GraphQLSchema, ids: SeededIds): Case[] {
  const candidates: Record<string, string> = {
    Project: ids.projects[0]!,
    Task: ids.tasks[0]!,
    Member: ids.members[0]!,
  };
  const cases: Case[] = [];
  for (const root of rootFields(schema).filter((r) => r.kind === 'query')) {
    const paths = idPaths(root.field);
    const query = operationFor(schema, root);
    if (paths.length === 0) {
      cases.push({
        name: `replay ${root.field.name}`,
        query,
        variables: buildVariables(root.field, new Map()),
      });
      continue;
    }
    for (const [typename, rowId] of Object.entries(candidates)) {
      for (const tenant of [ids.tenantId, ids.otherTenantId]) {
        const id = encodeGlobalId(typename, tenant, tenant === ids.tenantId ? rowId : ids.otherProject);
        const given = new Map(paths.map((p) => [p.key, id]));
        cases.push({
          name: `replay ${root.field.name}(${typename} of ${tenant})`,
          query,
          variables: buildVariables(root.field, given),
        });
      }
    }
  }
  return cases;
}
