import {
  astFromValue,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLNamedType,
  type GraphQLObjectType,
  type GraphQLSchema,
  getNamedType,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
  isUnionType,
  print,
} from 'graphql';
import { selectionFor } from './schema-operations.js';

/**
 * One String or ID position of one field argument, anywhere in the schema (root fields and
 * nested ones, inside input objects and lists), with two valid operations that put `value`
 * there: once as a variable, once as a literal. Built from the schema alone, so a field added
 * later is covered without editing a test.
 */
export interface StringArgumentCase {
  /** `Type.field(arg.inner)`, for test names. */
  readonly label: string;
  readonly withVariables: { query: string; variables: Record<string, unknown> };
  readonly withLiteral: { query: string };
}

export interface StringArguments {
  readonly cases: StringArgumentCase[];
  /** Types with such arguments that no path of argument-free fields reaches (the generator must grow). */
  readonly unreachable: string[];
}

interface Route {
  readonly kind: 'query' | 'mutation' | 'subscription';
  /** Selections from the root down to the type, e.g. ['projects', 'edges', 'node']. */
  readonly steps: readonly string[];
}

export function stringArguments(schema: GraphQLSchema, value: string): StringArguments {
  const routes = routesToTypes(schema);
  const cases: StringArgumentCase[] = [];
  const unreachable: string[] = [];
  for (const type of Object.values(schema.getTypeMap())) {
    if (type.name.startsWith('__') || !(isObjectType(type) || isInterfaceType(type))) continue;
    const fields = Object.values(type.getFields()).filter((f) =>
      f.args.some((a) => stringPaths(a.type).length),
    );
    if (fields.length === 0) continue;
    const route = routes.get(type.name);
    if (!route) {
      if (!isInterfaceType(type)) unreachable.push(type.name); // interfaces: through their objects
      continue;
    }
    for (const field of fields) {
      for (const arg of field.args) {
        for (const inner of stringPaths(arg.type)) {
          const path = [arg.name, ...inner];
          cases.push(
            buildCase(schema, route, field, path, value, `${type.name}.${field.name}(${path.join('.')})`),
          );
        }
      }
    }
  }
  return { cases, unreachable };
}

/** Every String/ID position below `type`, as input field names (lists are transparent). */
function stringPaths(type: GraphQLInputType, seen = new Set<string>()): string[][] {
  const named = getNamedType(type);
  if (isScalarType(named)) return named.name === 'String' || named.name === 'ID' ? [[]] : [];
  if (!isInputObjectType(named) || seen.has(named.name)) return [];
  const next = new Set(seen).add(named.name);
  return Object.values(named.getFields()).flatMap((f) =>
    stringPaths(f.type, next).map((rest) => [f.name, ...rest]),
  );
}

/** The shortest route from a root to each object type, over fields that need no argument. */
function routesToTypes(schema: GraphQLSchema): Map<string, Route> {
  const routes = new Map<string, Route>();
  const queue: [GraphQLObjectType, Route][] = [];
  for (const [kind, root] of [
    ['query', schema.getQueryType()],
    ['mutation', schema.getMutationType()],
    ['subscription', schema.getSubscriptionType()],
  ] as const) {
    if (root) queue.push([root, { kind, steps: [] }]);
  }
  while (queue.length > 0) {
    const [type, route] = queue.shift()!;
    if (routes.has(type.name)) continue;
    routes.set(type.name, route);
    for (const field of Object.values(type.getFields())) {
      if (field.args.some((a) => isNonNullType(a.type))) continue;
      const named = getNamedType(field.type);
      const steps = [...route.steps, field.name];
      if (isObjectType(named)) queue.push([named, { kind: route.kind, steps }]);
      if (isInterfaceType(named) || isUnionType(named)) {
        for (const impl of schema.getPossibleTypes(named)) {
          queue.push([impl, { kind: route.kind, steps: [...steps, `... on ${impl.name}`] }]);
        }
      }
    }
  }
  return routes;
}

function buildCase(
  schema: GraphQLSchema,
  route: Route,
  field: GraphQLField<unknown, unknown>,
  path: string[],
  value: string,
  label: string,
): StringArgumentCase {
  const args = new Map<string, unknown>();
  for (const arg of field.args) {
    if (arg.name === path[0]) args.set(arg.name, build(arg.type, path.slice(1), value));
    else if (isNonNullType(arg.type)) args.set(arg.name, build(arg.type, undefined, value));
  }
  const declared = field.args.filter((a) => args.has(a.name));
  const call = (rendered: string[]) => `${field.name}${rendered.length ? `(${rendered.join(', ')})` : ''}`;
  const wrap = (inner: string) =>
    [...route.steps].reverse().reduce((body, step) => `${step} { ${body} }`, inner);
  const selection = selectionFor(schema, field.type, 0);

  const decls = declared.map((a) => `$${a.name}: ${a.type.toString()}`);
  const viaVariables = call(declared.map((a) => `${a.name}: $${a.name}`));
  const literals = declared.map((a) => `${a.name}: ${print(astFromValue(args.get(a.name), a.type)!)}`);
  return {
    label,
    withVariables: {
      query: `${route.kind} Nul${decls.length ? `(${decls.join(', ')})` : ''} { ${wrap(`${viaVariables} ${selection}`)} }`,
      variables: Object.fromEntries(args),
    },
    withLiteral: { query: `${route.kind} Nul { ${wrap(`${call(literals)} ${selection}`)} }` },
  };
}

/**
 * A value of `type`: `value` at the end of `target` (input field names below this point),
 * valid placeholders wherever the type requires something, nothing where it does not.
 */
function build(type: GraphQLInputType, target: string[] | undefined, value: string): unknown {
  const inner = isNonNullType(type) ? type.ofType : type;
  if (isListType(inner)) return [build(inner.ofType, target, value)];
  if (isInputObjectType(inner)) {
    const object: Record<string, unknown> = {};
    for (const f of Object.values(inner.getFields())) {
      if (target && f.name === target[0]) object[f.name] = build(f.type, target.slice(1), value);
      else if (isNonNullType(f.type) && f.defaultValue === undefined)
        object[f.name] = build(f.type, undefined, value);
    }
    return object;
  }
  if (target) return value;
  return placeholder(inner as GraphQLNamedType);
}

function placeholder(type: GraphQLNamedType): unknown {
  if (isEnumType(type)) return type.getValues()[0]!.value;
  switch (type.name) {
    case 'String':
    case 'ID':
      return 'x';
    case 'Int':
    case 'Float':
      return 1;
    case 'Boolean':
      return true;
    case 'DateTime':
      return new Date().toISOString();
    default:
      throw new Error(`no placeholder for a required argument of type ${type.name}: add one here`);
  }
}
