import type { FieldNode, GraphQLField, GraphQLScalarType, VariableDefinitionNode } from 'graphql';
import type { Context } from '../context.js';
import type { Table } from './catalog.js';
import type { Encoding } from './encodings.js';
import type { ScopeRule } from './scopes.js';

/**
 * A compiled query: what one SQL statement must build, field by field, in response-key order.
 * Made once per (document, operation, schema) by compile.ts; sql.ts turns it into the
 * statement of one request, with that request's argument values.
 */
export interface Plan {
  readonly variables: readonly VariableDefinitionNode[];
  readonly root: readonly RootEntry[];
  /** Every field's authScopes: all must pass, else the request takes the resolvers (which answer the error). */
  readonly scopes: readonly ScopeRule[];
}

/** A field whose arguments are read per request (graphql's getArgumentValues of its first node). */
export interface FieldSite {
  readonly definition: GraphQLField<unknown, unknown>;
  /** The first of `nodes`: graphql reads the arguments there. */
  readonly node: FieldNode;
  /** Every node of the response key, for errors' locations. */
  readonly nodes: readonly FieldNode[];
  readonly key: string;
}

export type RootEntry = TypenameEntry | ConnectionEntry | ByIdEntry | ContextEntry;

/** A root field whose value the request already holds (Query.tenant): written by Node, no SQL. */
export interface ContextEntry {
  readonly kind: 'context';
  readonly key: string;
  readonly site: FieldSite;
  /** What the field's resolver returns (tableField's `fromContext`). */
  readonly read: (ctx: Context) => unknown;
  readonly nullable: boolean;
  readonly entries: readonly ContextField[];
}

/** `__typename`, wherever it is selected: the type's name, known when compiling. */
export interface TypenameEntry {
  readonly kind: 'typename';
  readonly key: string;
  readonly typename: string;
}

export type ContextField =
  | TypenameEntry
  | {
      readonly kind: 'property';
      readonly key: string;
      readonly property: string;
      /** A built-in scalar: its serialize is what graphql-jit calls. */
      readonly type: GraphQLScalarType;
      readonly nullable: boolean;
    };

/** The rows of one table-backed type, as one JSON object per row. */
export interface ObjectPlan {
  readonly typename: string;
  readonly table: Table;
  readonly entries: readonly ObjectEntry[];
  /** The columns `entries` read, `id` and `tenant_id` included. */
  readonly columns: readonly string[];
}

export type ObjectEntry =
  | TypenameEntry
  | {
      readonly kind: 'column';
      readonly key: string;
      readonly column: string;
      readonly encoding: Encoding;
      readonly nullable: boolean;
      /** The column is NOT NULL. */
      readonly notNull: boolean;
    }
  | { readonly kind: 'globalId'; readonly key: string; readonly typename: string; readonly nullable: boolean }
  | {
      readonly kind: 'reference';
      readonly key: string;
      readonly column: string;
      readonly nullable: boolean;
      readonly notNull: boolean;
      readonly target: ObjectPlan;
    }
  | ConnectionEntry;

export interface ConnectionEntry {
  readonly kind: 'connection';
  readonly key: string;
  readonly site: FieldSite;
  /** The node table's column that must equal the parent row's id; undefined at the root. */
  readonly references: string | undefined;
  /** Argument name → the node table's column it must equal when given. */
  readonly filters: readonly (readonly [argument: string, column: string])[];
  /** The node type's table, and the columns every `node` selected under it reads. */
  readonly table: Table;
  readonly columns: readonly string[];
  readonly entries: readonly ConnectionPart[];
}

export type ConnectionPart =
  | TypenameEntry
  | { readonly kind: 'totalCount'; readonly key: string }
  | { readonly kind: 'edges'; readonly key: string; readonly entries: readonly EdgePart[] }
  | { readonly kind: 'pageInfo'; readonly key: string; readonly entries: readonly PageInfoPart[] };

export type EdgePart =
  | TypenameEntry
  | { readonly kind: 'cursor'; readonly key: string }
  | { readonly kind: 'node'; readonly key: string; readonly plan: ObjectPlan };

export type PageInfoPart =
  | TypenameEntry
  | {
      readonly kind: 'hasNextPage' | 'hasPreviousPage' | 'startCursor' | 'endCursor';
      readonly key: string;
    };

/** A root field reading one row by its global id. */
export interface ByIdEntry {
  readonly kind: 'byId';
  readonly key: string;
  readonly site: FieldSite;
  readonly argument: string;
  readonly nullable: boolean;
  /** The field's own type when it is an object type; undefined for an interface (node). */
  readonly objectType: string | undefined;
  /** Per possible type: its plan, or why it cannot be compiled (a request for it takes the resolvers). */
  readonly branches: ReadonlyMap<string, ObjectPlan | { readonly declined: string }>;
}
