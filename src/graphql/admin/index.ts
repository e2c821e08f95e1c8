import type { GraphQLSchema } from 'graphql';
import { adminBuilder } from './builder.js';
import './types/tenant-summary.js';
import './types/reload-status.js';
import './types/audit-log.js';

export { adminBuilder } from './builder.js';
export { adminConnectionOf } from './connection.js';
export { type AdminContext, type AdminDb, readAcrossTiers } from './context.js';
export { TenantSummary } from './types/tenant-summary.js';

let built: GraphQLSchema | undefined;

/**
 * The schema of the system tenant's host (SPEC §7) for a product that adds nothing to it;
 * one that does builds its own with `adminBuilder.toSchema()`.
 */
export function defaultAdminSchema(): GraphQLSchema {
  built ??= adminBuilder.toSchema();
  return built;
}
