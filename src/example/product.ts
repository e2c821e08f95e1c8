import type { Product } from '../index.js';
import { demoAdminSchema } from './admin.js';
import { loadDemoData } from './demo-data.js';
import { demoSchema } from './schema.js';

/**
 * The demo product: members, projects and tasks, built on tenantql's public API only. Its
 * tables are in tenantql's own early migrations (002, 004), which deployed databases have
 * applied already, so it brings no migrations folder of its own.
 */
export const demo: Product = { schema: demoSchema, adminSchema: demoAdminSchema, seed: loadDemoData };
