import { lexicographicSortSchema, printSchema } from 'graphql';
import { adminBuilder } from './builder.js';
import './types/tenant-summary.js';
import './types/reload-status.js';
import './types/audit-log.js';

/** The schema served on the system tenant's host only (SPEC §7). */
export const adminSchema = adminBuilder.toSchema();

export function printAdminSchema(): string {
  return `${printSchema(lexicographicSortSchema(adminSchema))}\n`;
}
