import {
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLObjectType,
  type GraphQLSchema,
  isAbstractType,
  Kind,
  type SelectionSetNode,
  typeFromAST,
} from 'graphql';

/**
 * The fields of a selection in the order the response has them: response keys in the order
 * they are first met, each with every field node that shares it; fragments flattened for one
 * runtime type. The order is graphql-jit's (ast.ts, collectFields), which serves every other
 * request, not graphql-js's: jit reads a selection set's own fields first and its fragments
 * after, from a stack (the last fragment first), where graphql-js reads fragments in place.
 * The fast path compiles only documents without directives (see compile.ts), so nothing here
 * depends on variables.
 */
export type CollectedFields = Map<string, readonly FieldNode[]>;

export interface Fragments {
  readonly [name: string]: FragmentDefinitionNode | undefined;
}

export function fragmentsOf(document: DocumentNode): Fragments {
  const fragments: Record<string, FragmentDefinitionNode> = {};
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments[definition.name.value] = definition;
  }
  return fragments;
}

/** The sub-fields of `fieldNodes` (one response key) for `type`, as jit's collectSubfields. */
export function collectSubfields(
  schema: GraphQLSchema,
  fragments: Fragments,
  type: GraphQLObjectType,
  fieldNodes: readonly FieldNode[],
): CollectedFields {
  const fields: CollectedFields = new Map();
  const visited = new Set<string>();
  for (const node of fieldNodes) {
    if (node.selectionSet) collect(schema, fragments, type, node.selectionSet, fields, visited);
  }
  return fields;
}

/** The root fields of an operation. */
export function collectRootFields(
  schema: GraphQLSchema,
  fragments: Fragments,
  type: GraphQLObjectType,
  selectionSet: SelectionSetNode,
): CollectedFields {
  const fields: CollectedFields = new Map();
  collect(schema, fragments, type, selectionSet, fields, new Set());
  return fields;
}

function collect(
  schema: GraphQLSchema,
  fragments: Fragments,
  type: GraphQLObjectType,
  selectionSet: SelectionSetNode,
  fields: CollectedFields,
  visited: Set<string>,
): void {
  const stack = [selectionSet];
  for (let set = stack.pop(); set; set = stack.pop()) {
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        const key = selection.alias?.value ?? selection.name.value;
        const list = fields.get(key);
        if (list) (list as FieldNode[]).push(selection);
        else fields.set(key, [selection]);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        if (applies(schema, selection.typeCondition?.name.value, type)) stack.push(selection.selectionSet);
      } else {
        const name = selection.name.value;
        if (visited.has(name)) continue;
        visited.add(name);
        const fragment = fragments[name];
        if (fragment && applies(schema, fragment.typeCondition.name.value, type))
          stack.push(fragment.selectionSet);
      }
    }
  }
}

/** graphql's (and jit's) doesFragmentConditionMatch. */
function applies(schema: GraphQLSchema, condition: string | undefined, type: GraphQLObjectType): boolean {
  if (condition === undefined) return true;
  const conditional = typeFromAST(schema, {
    kind: Kind.NAMED_TYPE,
    name: { kind: Kind.NAME, value: condition },
  });
  if (conditional === type) return true;
  return conditional !== undefined && isAbstractType(conditional) && schema.isSubType(conditional, type);
}
