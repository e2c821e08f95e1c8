import type { Context } from '../context.js';

/**
 * What a field of a table-backed type reads, said once beside its resolver, so that the fast
 * path (src/fastpath/) can answer a nested read with one SQL statement instead of running the
 * resolvers. A table-backed type is one registered with `registerNodeType(name, load, { table })`:
 * its rows are that table's rows (`tenant_id`, a per-tenant `id`, and the columns by name).
 *
 * A declaration is a promise about the resolver: it returns exactly what the declaration says.
 * A field that declares nothing is never compiled, so a resolver of its own (a decrypted column,
 * a computed value) keeps the request on the resolvers. Exposed fields (`t.exposeString('name')`)
 * need no declaration: they read the column of the exposed name.
 *
 * ```ts
 * createdAt: t.field({ type: 'DateTime', resolve: (p) => p.created_at, extensions: tableField({ column: 'created_at' }) }),
 * ```
 */
export type TableFieldSpec =
  /** The row's column, as the field's type serialises it. */
  | { readonly column: string }
  /** The row's global id: encodeGlobalId(<the parent type>, <tenant>, row.id). */
  | { readonly globalId: true }
  /**
   * The row of the field's (table-backed) type whose `id` is this row's `column`, in the same
   * tenant (the composite foreign key `(tenant_id, column)`); null when the column is null.
   */
  | { readonly reference: string }
  /**
   * A connection (connectionOf, cursors by row id, `first`/`after` as pageFrom reads them)
   * of the node type's rows in id order: at the root every row of the tenant; on a
   * table-backed type those whose `references` column is this row's id. `filters` maps an
   * argument to the column it must equal when given (null or absent: no filter). totalCount
   * counts the same rows, whatever `after` says.
   */
  | {
      readonly connection: {
        readonly references?: string;
        readonly filters?: Readonly<Record<string, string>>;
      };
    }
  /**
   * At the root: the row whose global id is argument `byGlobalId`, of the field's type (an
   * object type), or of any table-backed type registered for node(id) (an interface); null for
   * an id of another tenant or type, a malformed id, or a missing row.
   */
  | { readonly byGlobalId: string }
  /**
   * At the root: a value the request already holds (no SQL), `fromContext(ctx)` — the field's
   * resolver must return exactly that. Its type's fields are `__typename` and exposed
   * properties of that value of the built-in scalars (`t.exposeString('name')`), as Query.tenant.
   * A query can then mix it with table-backed fields and still be one statement.
   */
  | { readonly fromContext: (ctx: Context) => unknown };

/** The key of a field's `extensions` holding its TableFieldSpec. */
export const TABLE_FIELD = 'tenantqlTableField';

/** Pothos field `extensions` declaring what the field reads (see TableFieldSpec). */
export function tableField(spec: TableFieldSpec): { readonly [TABLE_FIELD]: TableFieldSpec } {
  return { [TABLE_FIELD]: spec };
}

/** The key of a type's `extensions` marking the types connectionOf makes. */
export const CONNECTION_TYPE = 'tenantqlConnection';

/** What connectionOf records on the types it makes, for the fast path to recognise them. */
export type ConnectionTypeMark =
  | { readonly part: 'connection'; readonly rowIdCursors: boolean }
  | { readonly part: 'edge'; readonly rowIdCursors: boolean }
  | { readonly part: 'pageInfo' };
