import { readFile } from 'node:fs/promises';
import {
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputObjectType,
  GraphQLInterfaceType,
  GraphQLObjectType,
  isEnumType,
  isInputObjectType,
} from 'graphql';
import { describe, expect, it } from 'vitest';
import { demoAdminSchema as adminSchema } from '../../src/example/admin.js';
import { demoSchema as tenantSchema } from '../../src/example/schema.js';
import { printSortedSchema } from '../../src/graphql/index.js';

// SPEC §7: the tenant schema's names and shapes are the contract. Fields may be added; none of
// these may be renamed, retyped or lose an argument.

describe('schema/tenant.graphql', () => {
  it('is what the code prints (run `npm run schema` after changing a type)', async () => {
    const onDisk = await readFile(new URL('../../schema/tenant.graphql', import.meta.url), 'utf8');
    expect(printSortedSchema(tenantSchema)).toBe(onDisk);
  });
});

describe('schema/admin.graphql', () => {
  it('is what the code prints for the system host', async () => {
    const onDisk = await readFile(new URL('../../schema/admin.graphql', import.meta.url), 'utf8');
    expect(printSortedSchema(adminSchema)).toBe(onDisk);
  });
});

/** `name(arg: Type, …): Type` for one field; arguments are named, so their order is not part of it. */
function signature(field: GraphQLField<unknown, unknown>): string {
  const args = field.args.map((a: GraphQLArgument) => `${a.name}: ${a.type}`);
  return `${field.name}${args.length ? `(${args.sort().join(', ')})` : ''}: ${field.type}`;
}

/** The same normal form for a line written as in SPEC §7. */
function normalise(line: string): string {
  return line.replace(/\(([^)]*)\)/, (_all, args: string) => `(${args.split(', ').sort().join(', ')})`);
}

function fieldsOf(typeName: string): Record<string, string> {
  const type = tenantSchema.getType(typeName);
  if (!(type instanceof GraphQLObjectType || type instanceof GraphQLInterfaceType)) {
    throw new Error(`${typeName} is not an object or interface type`);
  }
  return Object.fromEntries(Object.values(type.getFields()).map((f) => [f.name, signature(f)]));
}

function expectFields(typeName: string, expected: string[]): void {
  const actual = fieldsOf(typeName);
  for (const line of expected) {
    const name = line.slice(0, line.search(/[(:]/));
    expect(actual[name], `${typeName}.${name}`).toBe(normalise(line));
  }
}

function inputFields(typeName: string): Record<string, string> {
  const type = tenantSchema.getType(typeName);
  if (!isInputObjectType(type)) throw new Error(`${typeName} is not an input type`);
  return Object.fromEntries(
    Object.values((type as GraphQLInputObjectType).getFields()).map((f) => [f.name, String(f.type)]),
  );
}

describe('SPEC §7 names and shapes', () => {
  it('Query', () => {
    expectFields('Query', [
      'tenant: Tenant!',
      'viewer: Viewer!',
      'node(id: ID!): Node',
      'members(first: Int, after: String): MemberConnection!',
      'projects(first: Int, after: String): ProjectConnection!',
      'project(id: ID!): Project',
      'task(id: ID!): Task',
    ]);
  });

  it('Mutation (the tenancy core; API keys are issue 3)', () => {
    expectFields('Mutation', [
      'createMember(input: CreateMemberInput!): Member!',
      'createProject(input: CreateProjectInput!): Project!',
      'updateProject(input: UpdateProjectInput!): Project!',
      'deleteProject(id: ID!): Boolean!',
      'createTask(input: CreateTaskInput!): Task!',
      'updateTask(input: UpdateTaskInput!): Task!',
      'deleteTask(id: ID!): Boolean!',
    ]);
  });

  it('object types', () => {
    expectFields('Tenant', ['id: Int!', 'subdomain: String!', 'name: String!']);
    expectFields('Viewer', ['kind: ViewerKind!', 'subject: String', 'tenantId: Int!', 'actorTenantId: Int']);
    expectFields('Member', [
      'id: ID!',
      'name: String!',
      'email: String!',
      'tasks(first: Int, after: String): TaskConnection!',
    ]);
    expectFields('Project', [
      'id: ID!',
      'name: String!',
      'createdAt: DateTime!',
      'tasks(first: Int, after: String, status: TaskStatus): TaskConnection!',
    ]);
    expectFields('Task', [
      'id: ID!',
      'title: String!',
      'status: TaskStatus!',
      'project: Project!',
      'assignee: Member',
      'createdAt: DateTime!',
      'updatedAt: DateTime!',
    ]);
    expectFields('Node', ['id: ID!']);
    for (const type of ['Member', 'Project', 'Task']) {
      const object = tenantSchema.getType(type) as GraphQLObjectType;
      expect(object.getInterfaces().map(String), type).toContain('Node');
    }
  });

  it.each(['Member', 'Project', 'Task'])('%sConnection is a Relay connection with totalCount', (node) => {
    expectFields(`${node}Connection`, [`edges: [${node}Edge!]!`, 'pageInfo: PageInfo!', 'totalCount: Int!']);
    expectFields(`${node}Edge`, ['cursor: String!', `node: ${node}!`]);
  });

  it('PageInfo', () => {
    expectFields('PageInfo', ['hasNextPage: Boolean!', 'endCursor: String']);
  });

  it('enums have exactly the SPEC values', () => {
    const values = (name: string) => {
      const type = tenantSchema.getType(name);
      if (!isEnumType(type)) throw new Error(`${name} is not an enum`);
      return type.getValues().map((v) => v.name);
    };
    expect(values('ViewerKind').sort()).toEqual(['ANONYMOUS', 'API_KEY', 'SERVICE', 'USER']);
    expect(values('TaskStatus').sort()).toEqual(['DONE', 'IN_PROGRESS', 'TODO']);
  });

  it('input types', () => {
    expect(inputFields('CreateMemberInput')).toMatchObject({ name: 'String!', email: 'String!' });
    expect(inputFields('CreateProjectInput')).toMatchObject({ name: 'String!' });
    expect(inputFields('UpdateProjectInput')).toMatchObject({ id: 'ID!', name: 'String' });
    expect(inputFields('CreateTaskInput')).toMatchObject({
      projectId: 'ID!',
      title: 'String!',
      assigneeId: 'ID',
      status: 'TaskStatus',
    });
    expect(inputFields('UpdateTaskInput')).toMatchObject({
      id: 'ID!',
      title: 'String',
      status: 'TaskStatus',
      assigneeId: 'ID',
    });
  });

  it('shows no admin field on the tenant schema', () => {
    const query = fieldsOf('Query');
    expect(Object.keys(query)).not.toContain('tenants');
    expect(Object.keys(query)).not.toContain('reloadStatus');
    expect(tenantSchema.getType('TenantSummary')).toBeUndefined();
  });
});
