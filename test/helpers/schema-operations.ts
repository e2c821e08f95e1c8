import {
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLNamedType,
  type GraphQLOutputType,
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
} from 'graphql';

/**
 * Minimal valid operations built from the schema alone, so a field added later is exercised
 * without editing a test. An ID argument (top level or inside input objects) is an "id path";
 * the caller decides each path's value, everything else gets a valid placeholder.
 */
export interface IdPath {
  /** Argument names from the field down, e.g. ['input', 'projectId']. */
  readonly path: readonly string[];
  /** Every step is non-null: the operation cannot be built without it. */
  readonly required: boolean;
  readonly key: string;
}

export interface RootField {
  readonly kind: 'query' | 'mutation';
  readonly field: GraphQLField<unknown, unknown>;
}

export function rootFields(schema: GraphQLSchema): RootField[] {
  const query = Object.values(schema.getQueryType()?.getFields() ?? {}).map((field) => ({
    kind: 'query' as const,
    field,
  }));
  const mutation = Object.values(schema.getMutationType()?.getFields() ?? {}).map((field) => ({
    kind: 'mutation' as const,
    field,
  }));
  return [...query, ...mutation];
}

/** Every ID-typed argument position of `field`, depth-first. */
export function idPaths(field: GraphQLField<unknown, unknown>): IdPath[] {
  const found: IdPath[] = [];
  const walk = (type: GraphQLInputType, path: string[], required: boolean, seen: Set<string>) => {
    const inner = isNonNullType(type) ? type.ofType : type;
    const req = required && isNonNullType(type);
    if (isListType(inner)) return walk(inner.ofType, path, req, seen);
    if (isScalarType(inner) && inner.name === 'ID') found.push({ path, required: req, key: path.join('.') });
    if (isInputObjectType(inner) && !seen.has(inner.name)) {
      const next = new Set(seen).add(inner.name);
      for (const f of Object.values(inner.getFields())) walk(f.type, [...path, f.name], req, next);
    }
  };
  for (const arg of field.args) walk(arg.type, [arg.name], true, new Set());
  return found;
}

let counter = 0;

/**
 * A valid placeholder for a non-ID scalar or enum; unknown custom scalars cannot be built.
 * Strings start with `label`, so a test can grep responses for one tenant's values.
 */
function placeholder(type: GraphQLNamedType, name: string, label: string): unknown {
  const n = ++counter;
  if (isEnumType(type)) return type.getValues()[0]!.value;
  switch (type.name) {
    case 'String':
      return /email/i.test(name) ? `${label}-${n}@example.test` : `${label}-${n}`;
    case 'Int':
    case 'Float':
      return 1;
    case 'Boolean':
      return true;
    case 'DateTime':
      return new Date().toISOString();
    default:
      throw new Error(`cannot build a value for argument "${name}" of type ${type.name}`);
  }
}

/**
 * The variables for `field`: required arguments always, optional ones only where an id path
 * below them has a value. `ids` maps IdPath.key to the global id to send.
 */
export function buildVariables(
  field: GraphQLField<unknown, unknown>,
  ids: ReadonlyMap<string, string>,
  label = 'value',
): Record<string, unknown> {
  const build = (type: GraphQLInputType, path: string[], name: string): unknown => {
    const required = isNonNullType(type);
    const inner = isNonNullType(type) ? type.ofType : type;
    const key = path.join('.');
    const wanted = [...ids.keys()].some((k) => k === key || k.startsWith(`${key}.`));
    if (!required && !wanted) return undefined;
    if (isListType(inner)) return [build(inner.ofType, path, name)];
    if (isScalarType(inner) && inner.name === 'ID') {
      const id = ids.get(key);
      if (id === undefined) throw new Error(`no id given for required path ${key}`);
      return id;
    }
    if (isInputObjectType(inner)) {
      const value: Record<string, unknown> = {};
      for (const f of Object.values(inner.getFields())) {
        const v = build(f.type, [...path, f.name], f.name);
        if (v !== undefined) value[f.name] = v;
      }
      return value;
    }
    return placeholder(inner as GraphQLNamedType, name, label);
  };
  const variables: Record<string, unknown> = {};
  for (const arg of field.args) {
    const value = build(arg.type, [arg.name], arg.name);
    if (value !== undefined) variables[arg.name] = value;
  }
  return variables;
}

/**
 * `__typename`, scalar leaves and (up to `depth`) nested objects; an interface or union also
 * gets a fragment per concrete type. Fields that need arguments are skipped.
 */
export function selectionFor(schema: GraphQLSchema, type: GraphQLOutputType, depth = 2): string {
  const named = getNamedType(type);
  if (isScalarType(named) || isEnumType(named)) return '';
  const fields = (t: GraphQLNamedType, d: number): string[] => {
    if (!isObjectType(t) && !isInterfaceType(t)) return [];
    const parts: string[] = [];
    for (const f of Object.values(t.getFields())) {
      if (f.args.some((a) => isNonNullType(a.type))) continue;
      const inner = getNamedType(f.type);
      if (isScalarType(inner) || isEnumType(inner)) parts.push(f.name);
      else if (d > 0) parts.push(`${f.name} ${selectionFor(schema, f.type, d - 1)}`);
    }
    return parts;
  };
  const parts = ['__typename', ...fields(named, depth)];
  if (isInterfaceType(named) || isUnionType(named)) {
    for (const impl of schema.getPossibleTypes(named)) {
      parts.push(`... on ${impl.name} { __typename ${fields(impl, depth - 1).join(' ')} }`);
    }
  }
  return `{ ${parts.join(' ')} }`;
}

/** The operation text: every argument passed as a variable of its declared type. */
export function operationFor(schema: GraphQLSchema, root: RootField): string {
  const { field } = root;
  const decl = field.args.map((a) => `$${a.name}: ${a.type.toString()}`).join(', ');
  const pass = field.args.map((a) => `${a.name}: $${a.name}`).join(', ');
  const call = `${field.name}${pass ? `(${pass})` : ''}`;
  return `${root.kind} Replay${decl ? `(${decl})` : ''} { ${call} ${selectionFor(schema, field.type)} }`;
}

/** Every `{ __typename, id }` pair in a response, as typename → ids. */
export function harvestIds(value: unknown, into = new Map<string, Set<string>>()): Map<string, Set<string>> {
  if (Array.isArray(value)) for (const v of value) harvestIds(v, into);
  else if (value && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    if (typeof record.__typename === 'string' && typeof record.id === 'string') {
      const set = into.get(record.__typename) ?? new Set<string>();
      set.add(record.id);
      into.set(record.__typename, set);
    }
    for (const v of Object.values(record)) harvestIds(v, into);
  }
  return into;
}
