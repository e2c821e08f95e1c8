import { type GraphQLSchema, lexicographicSortSchema, printSchema } from 'graphql';
// The types every tenant schema has, whatever the product adds: who is calling, the tenant,
// node(id), API keys, revokeSessions and the audit log. Importing this module registers them on
// the builder.
import './types/tenant.js';
import './types/viewer.js';
import './types/node.js';
import './types/api-key.js';
import './types/sessions.js';
import './types/audit-log.js';

export { ADMIN, ADMIN_USER, AUTHENTICATED, builder, MEMBER } from './builder.js';

/** A schema's SDL as `schema/*.graphql` holds it: sorted, so it diffs well. */
export function printSortedSchema(schema: GraphQLSchema): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}
