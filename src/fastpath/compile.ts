import {
  BREAK,
  type DocumentNode,
  type FieldNode,
  type GraphQLField,
  type GraphQLObjectType,
  type GraphQLSchema,
  getNamedType,
  getNullableType,
  getOperationAST,
  isInterfaceType,
  isListType,
  isNonNullType,
  isObjectType,
  visit,
} from 'graphql';
import { TABLE_FIELD, type TableFieldSpec } from '../graphql/table-fields.js';
import type { Catalog, Table } from './catalog.js';
import { compileConnection } from './compile-connection.js';
import { compileContext } from './compile-context.js';
import { type Compiler, Declined, type TableOf, tableOfType } from './compiler.js';
import { encodingFor } from './encodings.js';
import type { ByIdEntry, ObjectEntry, ObjectPlan, Plan, RootEntry } from './plan.js';
import { fieldScopes, typeScopesDeclined } from './scopes.js';
import { collectRootFields, collectSubfields, type Fragments, fragmentsOf } from './selection.js';

/**
 * The plan of a query operation, or why it takes the resolvers. Compiled: queries without
 * directives or introspection whose every field is `__typename`, a declared or exposed column,
 * a global id, a reference, a connection or a row by global id of table-backed types, or a
 * root field of what the request already holds (Query.tenant; see graphql/table-fields.ts). Anything else — a field with a resolver of its own, a mutation, a
 * subscription — is not, and the whole request takes the resolvers.
 */
export function compile(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  catalog: Catalog,
  tableOf: TableOf,
): Plan | { declined: string } {
  try {
    const operation = getOperationAST(document, operationName);
    if (!operation) throw new Declined('no such operation');
    if (operation.operation !== 'query') throw new Declined(`a ${operation.operation}`);
    const why = unsupportedSyntax(document);
    if (why) throw new Declined(why);
    const queryType = schema.getQueryType();
    if (!queryType) throw new Declined('no query type');
    const compiler = newCompiler(schema, fragmentsOf(document), catalog, tableOf);
    const root: RootEntry[] = [];
    for (const [key, nodes] of collectRootFields(
      schema,
      compiler.fragments,
      queryType,
      operation.selectionSet,
    )) {
      root.push(rootEntry(compiler, queryType, key, nodes));
    }
    return { variables: operation.variableDefinitions ?? [], root, scopes: compiler.scopes };
  } catch (error) {
    if (error instanceof Declined) return { declined: error.message };
    throw error;
  }
}

/** Directives (@skip/@include make the selection depend on variables) and introspection. */
function unsupportedSyntax(document: DocumentNode): string | undefined {
  let why: string | undefined;
  visit(document, {
    Directive(node) {
      why = `directive @${node.name.value}`;
      return BREAK;
    },
    Field(node) {
      if (node.name.value === '__schema' || node.name.value === '__type') {
        why = 'introspection';
        return BREAK;
      }
    },
  });
  return why;
}

function newCompiler(
  schema: GraphQLSchema,
  fragments: Fragments,
  catalog: Catalog,
  tableOf: TableOf,
): Compiler {
  const compiler: Compiler = {
    schema,
    fragments,
    catalog,
    tableOf,
    scopes: [],
    objectPlan: (type, nodes) => objectPlan(compiler, type, nodes),
    checkField(field) {
      const scopes = fieldScopes(field);
      if ('declined' in scopes) throw new Declined(scopes.declined);
      if (scopes.rule) compiler.scopes.push(scopes.rule);
    },
    field(type, node) {
      const field = type.getFields()[node.name.value];
      if (!field) throw new Declined(`no field ${type.name}.${node.name.value}`);
      compiler.checkField(field);
      return field;
    },
  };
  return compiler;
}

export function specOf(field: GraphQLField<unknown, unknown>): TableFieldSpec | undefined {
  return field.extensions?.[TABLE_FIELD] as TableFieldSpec | undefined;
}

function rootEntry(
  compiler: Compiler,
  queryType: GraphQLObjectType,
  key: string,
  nodes: readonly FieldNode[],
): RootEntry {
  const node = nodes[0]!;
  if (node.name.value === '__typename') return { kind: 'typename', key, typename: queryType.name };
  const field = compiler.field(queryType, node);
  const spec = specOf(field);
  if (spec && 'connection' in spec) {
    if (spec.connection.references !== undefined) throw new Declined(`${field.name} references a parent`);
    return compileConnection(compiler, { definition: field, node, nodes, key }, nodes, spec.connection);
  }
  if (spec && 'byGlobalId' in spec) return byIdEntry(compiler, field, key, nodes, spec.byGlobalId);
  if (spec && 'fromContext' in spec) return compileContext(compiler, field, key, nodes, spec.fromContext);
  throw new Declined(`Query.${field.name} has a resolver of its own`);
}

function byIdEntry(
  compiler: Compiler,
  field: GraphQLField<unknown, unknown>,
  key: string,
  nodes: readonly FieldNode[],
  argument: string,
): ByIdEntry {
  if (!field.args.some((a) => a.name === argument) || field.args.length !== 1) {
    throw new Declined(`${field.name} has arguments besides ${argument}`);
  }
  if (isListType(getNullableType(field.type))) {
    throw new Declined(`${field.name} is a list`);
  }
  const named = getNamedType(field.type);
  const branches = new Map<string, ObjectPlan | { declined: string }>();
  let objectType: string | undefined;
  if (isObjectType(named)) {
    objectType = named.name;
    branches.set(named.name, compiler.objectPlan(named, nodes));
  } else if (isInterfaceType(named)) {
    const why = typeScopesDeclined(named);
    if (why) throw new Declined(why);
    for (const type of compiler.schema.getPossibleTypes(named)) {
      if (compiler.tableOf(type.name) === undefined) continue; // node(id) answers null for it
      try {
        branches.set(type.name, compiler.objectPlan(type, nodes));
      } catch (error) {
        if (!(error instanceof Declined)) throw error;
        branches.set(type.name, { declined: error.message });
      }
    }
  } else {
    throw new Declined(`${field.name} returns a ${named.name}`);
  }
  const site = { definition: field, node: nodes[0]!, nodes, key };
  return { kind: 'byId', key, site, argument, nullable: !isNonNullType(field.type), objectType, branches };
}

/** A table-backed type's table, or why it has none. */
function objectPlan(compiler: Compiler, type: GraphQLObjectType, nodes: readonly FieldNode[]): ObjectPlan {
  const table = tableOfType(compiler, type);
  const columns = new Set(['tenant_id', 'id']);
  const entries: ObjectEntry[] = [];
  for (const [key, fieldNodes] of collectSubfields(compiler.schema, compiler.fragments, type, nodes)) {
    const entry = objectEntry(compiler, type, table, key, fieldNodes);
    if (entry.kind === 'column' || entry.kind === 'reference') columns.add(entry.column);
    entries.push(entry);
  }
  return { typename: type.name, table, entries, columns: [...columns] };
}

function objectEntry(
  compiler: Compiler,
  type: GraphQLObjectType,
  table: Table,
  key: string,
  nodes: readonly FieldNode[],
): ObjectEntry {
  const node = nodes[0]!;
  if (node.name.value === '__typename') return { kind: 'typename', key, typename: type.name };
  const field = compiler.field(type, node);
  const where = `${type.name}.${field.name}`;
  const nullable = !isNonNullType(field.type);
  if (isListType(getNullableType(field.type))) {
    throw new Declined(`${where} is a list`);
  }
  const named = getNamedType(field.type);
  const exposed = field.extensions?.pothosExposedField;
  const spec = specOf(field) ?? (typeof exposed === 'string' ? { column: exposed } : undefined);
  if (!spec) throw new Declined(`${where} has a resolver of its own`);
  if (field.args.length > 0 && !('connection' in spec)) throw new Declined(`${where} takes arguments`);
  if ('column' in spec) {
    const column = table.columns.get(spec.column);
    if (!column) throw new Declined(`${table.name} has no column ${spec.column}`);
    const encoding = encodingFor(named, column, compiler.catalog.isoDates);
    if ('declined' in encoding) throw new Declined(`${where}: ${encoding.declined}`);
    return { kind: 'column', key, column: column.name, encoding, nullable, notNull: column.notNull };
  }
  if ('globalId' in spec) {
    if (named.name !== 'ID') throw new Declined(`${where} is a global id but not an ID`);
    return { kind: 'globalId', key, typename: type.name, nullable };
  }
  if ('reference' in spec) {
    const column = table.columns.get(spec.reference);
    if (!column) throw new Declined(`${table.name} has no column ${spec.reference}`);
    if (!isObjectType(named)) throw new Declined(`${where} is not an object`);
    const target = compiler.objectPlan(named, nodes);
    return { kind: 'reference', key, column: column.name, nullable, notNull: column.notNull, target };
  }
  if ('connection' in spec) {
    if (spec.connection.references === undefined) throw new Declined(`${where} names no references column`);
    return compileConnection(compiler, { definition: field, node, nodes, key }, nodes, spec.connection);
  }
  throw new Declined(`${where}: ${Object.keys(spec).join()} only at the root`);
}

export { Declined, type TableOf } from './compiler.js';
