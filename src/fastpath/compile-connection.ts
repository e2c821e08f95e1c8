import {
  type FieldNode,
  type GraphQLField,
  type GraphQLObjectType,
  getNamedType,
  isEnumType,
  isObjectType,
} from 'graphql';
import { CONNECTION_TYPE, type ConnectionTypeMark } from '../graphql/table-fields.js';
import { type Compiler, Declined, tableOfType } from './compiler.js';
import type { ConnectionEntry, ConnectionPart, EdgePart, FieldSite, PageInfoPart } from './plan.js';
import { collectSubfields } from './selection.js';

/**
 * A connection field: its type must be one connectionOf made with row-id cursors (the
 * library's resolvers, so its fields need no declaration), and its arguments `first`, `after`
 * and the declared filters only.
 */
export function compileConnection(
  compiler: Compiler,
  site: FieldSite,
  nodes: readonly FieldNode[],
  spec: { readonly references?: string; readonly filters?: Readonly<Record<string, string>> },
): ConnectionEntry {
  const where = `${site.definition.name}`;
  const type = getNamedType(site.definition.type);
  const mark = markOf(type);
  if (!isObjectType(type) || mark?.part !== 'connection')
    throw new Declined(`${where} is not a connectionOf`);
  if (!mark.rowIdCursors) throw new Declined(`${where} has cursors other than row ids`);
  const edgeType = getNamedType(type.getFields().edges?.type);
  if (!isObjectType(edgeType) || markOf(edgeType)?.part !== 'edge')
    throw new Declined(`${where}: no edge type`);
  const nodeType = getNamedType(edgeType.getFields().node?.type);
  if (!nodeType) throw new Declined(`${where}: no node type`);
  const table = tableOfType(compiler, nodeType);
  const filters = Object.entries(spec.filters ?? {});
  for (const arg of site.definition.args) {
    const filter = filters.find(([name]) => name === arg.name);
    if (arg.name === 'first' || arg.name === 'after') continue;
    if (!filter) throw new Declined(`${where} has argument ${arg.name}`);
    const argType = getNamedType(arg.type);
    if (argType.name !== 'String' && !isEnumType(argType)) throw new Declined(`${where}: filter ${arg.name}`);
    const column = table.columns.get(filter[1]);
    if (!column || !(column.type === 'text' || column.type === 'varchar' || column.isEnum)) {
      throw new Declined(`${where}: filter on ${table.name}.${filter[1]}`);
    }
  }
  if (filters.some(([name]) => !site.definition.args.some((a) => a.name === name))) {
    throw new Declined(`${where}: a filter names no argument`);
  }
  if (spec.references !== undefined && !table.columns.has(spec.references)) {
    throw new Declined(`${table.name} has no column ${spec.references}`);
  }
  const entries: ConnectionPart[] = [];
  const columns = new Set(['tenant_id', 'id']);
  for (const [key, fieldNodes] of collectSubfields(compiler.schema, compiler.fragments, type, nodes)) {
    const name = fieldNodes[0]!.name.value;
    if (name === '__typename') entries.push({ kind: 'typename', key, typename: type.name });
    else if (name === 'totalCount') entries.push({ kind: 'totalCount', key });
    else if (name === 'pageInfo')
      entries.push({ kind: 'pageInfo', key, entries: pageInfo(compiler, type, fieldNodes) });
    else if (name === 'edges') {
      const parts = edgeParts(compiler, edgeType, nodeType as GraphQLObjectType, fieldNodes);
      for (const part of parts) if (part.kind === 'node') for (const c of part.plan.columns) columns.add(c);
      entries.push({ kind: 'edges', key, entries: parts });
    } else throw new Declined(`${type.name}.${name} is not connectionOf's`);
    checkStructural(compiler, type, name);
  }
  return {
    kind: 'connection',
    key: site.key,
    site,
    references: spec.references,
    filters: filters.map(([argument, column]) => [argument, column] as const),
    table,
    columns: [...columns],
    entries,
  };
}

function markOf(type: unknown): ConnectionTypeMark | undefined {
  return (type as { extensions?: Record<string, unknown> } | undefined)?.extensions?.[CONNECTION_TYPE] as
    | ConnectionTypeMark
    | undefined;
}

/** The library's own fields: any scopes or plugins on them are still checked. */
function checkStructural(compiler: Compiler, type: GraphQLObjectType, name: string): void {
  const field = type.getFields()[name] as GraphQLField<unknown, unknown> | undefined;
  if (field) compiler.checkField(field);
}

/** An edge's parts; each `node` alias its own plan over the page's rows. */
function edgeParts(
  compiler: Compiler,
  edgeType: GraphQLObjectType,
  nodeType: GraphQLObjectType,
  nodes: readonly FieldNode[],
): EdgePart[] {
  const parts: EdgePart[] = [];
  for (const [key, fieldNodes] of collectSubfields(compiler.schema, compiler.fragments, edgeType, nodes)) {
    const name = fieldNodes[0]!.name.value;
    if (name === '__typename') parts.push({ kind: 'typename', key, typename: edgeType.name });
    else if (name === 'cursor') parts.push({ kind: 'cursor', key });
    else if (name === 'node')
      parts.push({ kind: 'node', key, plan: compiler.objectPlan(nodeType, fieldNodes) });
    else throw new Declined(`${edgeType.name}.${name} is not connectionOf's`);
    checkStructural(compiler, edgeType, name);
  }
  return parts;
}

const PAGE_INFO = new Set(['hasNextPage', 'hasPreviousPage', 'startCursor', 'endCursor']);

function pageInfo(
  compiler: Compiler,
  connection: GraphQLObjectType,
  nodes: readonly FieldNode[],
): PageInfoPart[] {
  const type = getNamedType(connection.getFields().pageInfo?.type);
  if (!isObjectType(type) || markOf(type)?.part !== 'pageInfo') throw new Declined('no PageInfo');
  const parts: PageInfoPart[] = [];
  for (const [key, fieldNodes] of collectSubfields(compiler.schema, compiler.fragments, type, nodes)) {
    const name = fieldNodes[0]!.name.value;
    if (name === '__typename') parts.push({ kind: 'typename', key, typename: type.name });
    else if (PAGE_INFO.has(name)) parts.push({ kind: name as PageInfoPart['kind'] & 'hasNextPage', key });
    else throw new Declined(`PageInfo.${name} is not connectionOf's`);
    checkStructural(compiler, type, name);
  }
  return parts;
}
