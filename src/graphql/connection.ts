import type { ObjectRef, SchemaTypes } from '@pothos/core';
import { byRowId, type ConnectionShape, type CursorKey, encodeCursor } from './ids.js';
import { CONNECTION_TYPE, type ConnectionTypeMark } from './table-fields.js';

interface FieldBuilder {
  exposeBoolean(name: string): unknown;
  exposeString(name: string, options?: object): unknown;
  field(options: object): unknown;
  int(options: object): unknown;
  string(options: object): unknown;
}
interface UntypedBuilder {
  objectRef(name: string): {
    implement(options: { fields: (t: FieldBuilder) => object; extensions?: object }): unknown;
  };
}

/**
 * The connection types of one schema builder: a shared `PageInfo`, and for each node type
 * `<Name>Connection { edges { cursor node } pageInfo totalCount }` with its edge type. The
 * tenant and admin schemas each call it once with their own builder. Pothos cannot type field
 * definitions over a generic builder, so the inside is untyped and the signature carries the
 * types.
 */
export function connectionTypes<Types extends SchemaTypes>(typed: PothosSchemaTypes.SchemaBuilder<Types>) {
  const builder = typed as unknown as UntypedBuilder;
  const PageInfo = builder.objectRef('PageInfo').implement({
    extensions: mark({ part: 'pageInfo' }),
    fields: (t) => ({
      hasNextPage: t.exposeBoolean('hasNextPage'),
      hasPreviousPage: t.exposeBoolean('hasPreviousPage'),
      startCursor: t.exposeString('startCursor', { nullable: true }),
      endCursor: t.exposeString('endCursor', { nullable: true }),
    }),
  });

  /** `key` must be the one the resolver gives toConnection. */
  return function connectionOf<T extends { id: string }>(
    name: string,
    node: ObjectRef<Types, T>,
    key: CursorKey<T> = byRowId,
  ): ObjectRef<Types, ConnectionShape<T>> {
    // The fast path (src/fastpath/) compiles connections whose cursors are row ids.
    const rowIdCursors = key === byRowId;
    const edge = builder.objectRef(`${name}Edge`).implement({
      extensions: mark({ part: 'edge', rowIdCursors }),
      fields: (t) => ({
        // Made on demand: a page of 200 tasks whose cursors nobody reads costs no base64.
        cursor: t.string({ resolve: (e: { node: T }) => encodeCursor(key(e.node)) }),
        node: t.field({ type: node, resolve: (e: { node: T }) => e.node }),
      }),
    });
    return builder.objectRef(`${name}Connection`).implement({
      extensions: mark({ part: 'connection', rowIdCursors }),
      fields: (t) => ({
        edges: t.field({ type: [edge], resolve: (c: ConnectionShape<T>) => c.edges }),
        pageInfo: t.field({ type: PageInfo, resolve: (c: ConnectionShape<T>) => c.pageInfo }),
        totalCount: t.int({ resolve: (c: ConnectionShape<T>) => c.totalCount() }),
      }),
    }) as ObjectRef<Types, ConnectionShape<T>>;
  };
}

const mark = (value: ConnectionTypeMark) => ({ [CONNECTION_TYPE]: value });
