import {
  type FieldNode,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLObjectType,
  type GraphQLSchema,
  isObjectType,
} from 'graphql';
import type { Catalog, Table } from './catalog.js';
import type { ObjectPlan } from './plan.js';
import { type ScopeRule, typeScopesDeclined } from './scopes.js';
import type { Fragments } from './selection.js';

// What the compiler's modules share (compile.ts, compile-connection.ts), apart from them so
// neither imports the other.

/** Thrown (and caught in compile()) when some part of the operation cannot be compiled. */
export class Declined extends Error {}

/** Where each table-backed type's rows are (graphql/types/node.ts's registry). */
export type TableOf = (typename: string) => { table: string } | 'loader' | undefined;

/** What compiling one operation needs; shared by the modules of the compiler. */
export interface Compiler {
  readonly schema: GraphQLSchema;
  readonly fragments: Fragments;
  readonly catalog: Catalog;
  readonly tableOf: TableOf;
  readonly scopes: ScopeRule[];
  objectPlan(type: GraphQLObjectType, nodes: readonly FieldNode[]): ObjectPlan;
  checkField(field: GraphQLField<unknown, unknown>): void;
  /** The field `node` selects on `type`, its scopes checked (checkField). */
  field(type: GraphQLObjectType, node: FieldNode): GraphQLField<unknown, unknown>;
}

export function tableOfType(compiler: Compiler, type: GraphQLNamedType): Table {
  if (!isObjectType(type)) throw new Declined(`${type.name} is not an object type`);
  const why = typeScopesDeclined(type);
  if (why) throw new Declined(why);
  const source = compiler.tableOf(type.name);
  if (!source || source === 'loader') throw new Declined(`${type.name} is not table-backed`);
  const table = compiler.catalog.table(source.table);
  if (!table) throw new Declined(`${source.table} has no tenant_id and id`);
  return table;
}
