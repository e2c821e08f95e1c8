import { lexicographicSortSchema, printSchema } from 'graphql';
import { builder } from './builder.js';
import './types/tenant.js';
import './types/viewer.js';
import './types/node.js';
import './types/project.js';
import './types/member.js';
import './types/task.js';
import './types/task-events.js';
import './types/api-key.js';
import './types/audit-log.js';

/** The schema served on tenant hosts. Adding a type is one file and one import line above. */
export const tenantSchema = builder.toSchema();

export function printTenantSchema(): string {
  return `${printSchema(lexicographicSortSchema(tenantSchema))}\n`;
}
