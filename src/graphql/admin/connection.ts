import type { ObjectRef } from '@pothos/core';
import type { ConnectionShape } from '../ids.js';
import { adminBuilder } from './builder.js';

type Types = typeof adminBuilder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never;

// The tenant schema's connection shape (graphql/types/connection.ts), on the admin builder.
const PageInfo = adminBuilder.objectRef<ConnectionShape<unknown>['pageInfo']>('PageInfo').implement({
  fields: (t) => ({
    hasNextPage: t.exposeBoolean('hasNextPage'),
    hasPreviousPage: t.exposeBoolean('hasPreviousPage'),
    startCursor: t.exposeString('startCursor', { nullable: true }),
    endCursor: t.exposeString('endCursor', { nullable: true }),
  }),
});

export function adminConnectionOf<T>(name: string, node: ObjectRef<Types, T>) {
  const edge = adminBuilder.objectRef<{ cursor: string; node: T }>(`${name}Edge`).implement({
    fields: (t) => ({
      cursor: t.exposeString('cursor'),
      // biome-ignore lint/suspicious/noExplicitAny: Pothos cannot relate a generic T to its resolver result
      node: t.field({ type: node, resolve: (e) => e.node as any }),
    }),
  });
  return adminBuilder.objectRef<ConnectionShape<T>>(`${name}Connection`).implement({
    fields: (t) => ({
      edges: t.field({ type: [edge], resolve: (c) => c.edges }),
      pageInfo: t.field({ type: PageInfo, resolve: (c) => c.pageInfo }),
      totalCount: t.int({ resolve: (c) => c.totalCount() }),
    }),
  });
}
