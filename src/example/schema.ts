import { builder } from '../index.js';
import './types/project.js';
import './types/member.js';
import './types/task.js';
import './types/task-events.js';

/**
 * The demo's tenant schema (schema/tenant.graphql): tenantql's own types and the demo's
 * members, projects and tasks. Adding a type is one file under types/ and one import above.
 */
export const demoSchema = builder.toSchema();
