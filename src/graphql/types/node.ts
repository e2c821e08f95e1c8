import type { Context } from '../../context.js';
import { registerTableType } from '../../db/sql-errors.js';
import { builder } from '../builder.js';
import { decodeGlobalId, encodeGlobalId } from '../ids.js';
import { tableField } from '../table-fields.js';

/** A row that knows its GraphQL type, so the Node interface can resolve it. */
export interface NodeShape {
  readonly __typename?: string;
  readonly id: string;
}

export const Node = builder.interfaceRef<NodeShape>('Node').implement({
  description: 'An object with a global id, fetchable with node(id).',
  resolveType: (row) => row.__typename ?? null,
  fields: (t) => ({
    id: t.id({ resolve: (row, _args, ctx) => encodeGlobalId(row.__typename ?? '', ctx.tenant.id, row.id) }),
  }),
});

/** How node(id) loads each type; every type that implements Node registers here. */
type NodeLoader = (ctx: Context, id: string) => Promise<object | null>;
const nodeLoaders = new Map<string, NodeLoader>();
/** The table of each type registered with one: its rows, for the fast path (src/fastpath/). */
const nodeTables = new Map<string, string>();

export interface NodeTypeOptions {
  /**
   * The table (`app.invoices`) holding the type's rows: a foreign key to it that fails (a
   * missing row, or another tenant's) answers NOT_FOUND "<typename> not found.".
   * `load(ctx, id)` must be the row of this table with that id: the fast path reads it there.
   */
  readonly table?: string;
}

/** Makes `node(id)` load `typename` (which implements Node) with `load`; call it in the type's file. */
export function registerNodeType(typename: string, load: NodeLoader, options: NodeTypeOptions = {}): void {
  nodeLoaders.set(typename, load);
  if (options.table) {
    registerTableType(options.table, typename);
    nodeTables.set(typename, options.table);
  }
}

/**
 * How node(id) finds `typename`: `table` when registered with one, `loader` when only with a
 * loader of its own, undefined when not registered (node(id) answers null).
 */
export function nodeTypeSource(typename: string): { table: string } | 'loader' | undefined {
  const table = nodeTables.get(typename);
  if (table) return { table };
  return nodeLoaders.has(typename) ? 'loader' : undefined;
}

async function resolveNode(globalId: string, ctx: Context): Promise<NodeShape | null> {
  const decoded = decodeGlobalId(globalId, ctx.tenant.id);
  const load = decoded && nodeLoaders.get(decoded.typename);
  if (!decoded || !load) return null;
  const row = await load(ctx, decoded.id);
  return row ? { ...row, __typename: decoded.typename, id: decoded.id } : null;
}

builder.queryField('node', (t) =>
  t.field({
    type: Node,
    nullable: true,
    authScopes: { authenticated: true },
    description: 'Any object of this tenant by its global id; null for ids of other tenants.',
    args: { id: t.arg.id({ required: true }) },
    extensions: tableField({ byGlobalId: 'id' }),
    resolve: (_root, args, ctx) => resolveNode(String(args.id), ctx),
  }),
);
