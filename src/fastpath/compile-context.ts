import {
  type FieldNode,
  GraphQLBoolean,
  type GraphQLField,
  GraphQLFloat,
  GraphQLID,
  GraphQLInt,
  type GraphQLScalarType,
  GraphQLString,
  getNamedType,
  getNullableType,
  isListType,
  isNonNullType,
  isObjectType,
} from 'graphql';
import type { Context } from '../context.js';
import { type Compiler, Declined } from './compiler.js';
import type { ContextEntry, ContextField } from './plan.js';
import { typeScopesDeclined } from './scopes.js';
import { collectSubfields } from './selection.js';

// The built-in scalars: their serialize is graphql's own, the same in jit and here.
const BUILT_IN_SCALARS: ReadonlySet<GraphQLScalarType> = new Set([
  GraphQLString,
  GraphQLInt,
  GraphQLFloat,
  GraphQLBoolean,
  GraphQLID,
]);

/**
 * A root field declared `fromContext` (Query.tenant): its object is what the request already
 * holds, and each selected field an exposed property of it, so Node writes its JSON per
 * request and the statement takes it as a parameter. Anything else under it (a resolver of
 * its own, arguments, a list, a nested object) is not compiled.
 */
export function compileContext(
  compiler: Compiler,
  field: GraphQLField<unknown, unknown>,
  key: string,
  nodes: readonly FieldNode[],
  read: (ctx: Context) => unknown,
): ContextEntry {
  if (field.args.length > 0) throw new Declined(`${field.name} takes arguments`);
  const nullable = !isNonNullType(field.type);
  if (isListType(getNullableType(field.type))) {
    throw new Declined(`${field.name} is a list`);
  }
  const type = getNamedType(field.type);
  if (!isObjectType(type)) throw new Declined(`${field.name} returns a ${type.name}`);
  if (type.isTypeOf) throw new Declined(`${type.name} has isTypeOf`);
  const why = typeScopesDeclined(type);
  if (why) throw new Declined(why);
  const entries: ContextField[] = [];
  for (const [subKey, [node]] of collectSubfields(compiler.schema, compiler.fragments, type, nodes)) {
    if (node!.name.value === '__typename') {
      entries.push({ kind: 'typename', key: subKey, typename: type.name });
      continue;
    }
    const sub = compiler.field(type, node!);
    const where = `${type.name}.${sub.name}`;
    const exposed = sub.extensions?.pothosExposedField;
    if (typeof exposed !== 'string') throw new Declined(`${where} has a resolver of its own`);
    if (sub.args.length > 0) throw new Declined(`${where} takes arguments`);
    const subNullable = !isNonNullType(sub.type);
    const scalar = getNullableType(sub.type);
    if (!BUILT_IN_SCALARS.has(scalar as GraphQLScalarType)) {
      throw new Declined(`${where} is not a built-in scalar`);
    }
    entries.push({
      kind: 'property',
      key: subKey,
      property: exposed,
      type: scalar as GraphQLScalarType,
      nullable: subNullable,
    });
  }
  return {
    kind: 'context',
    key,
    site: { definition: field, node: nodes[0]!, nodes, key },
    read,
    nullable,
    entries,
  };
}
