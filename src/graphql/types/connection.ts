import type { ObjectRef } from '@pothos/core';
import { builder } from '../builder.js';
import type { ConnectionShape } from '../ids.js';

type Types = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never;

export const PageInfo = builder.objectRef<ConnectionShape<unknown>['pageInfo']>('PageInfo').implement({
  fields: (t) => ({
    hasNextPage: t.exposeBoolean('hasNextPage'),
    hasPreviousPage: t.exposeBoolean('hasPreviousPage'),
    startCursor: t.exposeString('startCursor', { nullable: true }),
    endCursor: t.exposeString('endCursor', { nullable: true }),
  }),
});

/** `<Name>Connection { edges { cursor node } pageInfo totalCount }` and its edge type. */
export function connectionOf<T>(name: string, node: ObjectRef<Types, T>) {
  const edge = builder.objectRef<{ cursor: string; node: T }>(`${name}Edge`).implement({
    fields: (t) => ({
      cursor: t.exposeString('cursor'),
      // biome-ignore lint/suspicious/noExplicitAny: Pothos cannot relate a generic T to its resolver result
      node: t.field({ type: node, resolve: (e) => e.node as any }),
    }),
  });
  return builder.objectRef<ConnectionShape<T>>(`${name}Connection`).implement({
    fields: (t) => ({
      edges: t.field({ type: [edge], resolve: (c) => c.edges }),
      pageInfo: t.field({ type: PageInfo, resolve: (c) => c.pageInfo }),
      totalCount: t.int({ resolve: (c) => c.totalCount() }),
    }),
  });
}
