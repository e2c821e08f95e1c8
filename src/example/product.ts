import type { Product } from '../index.js';
import { demoAdminSchema } from './admin.js';
import { loadDemoData } from './demo-data.js';
import { demoMigrationsDir } from './migrations.js';
import { demoSchema } from './schema.js';
import { memberEmail } from './types/member.js';

/** The demo product: members, projects and tasks, built on tenantql's public API only. */
export const demo: Product = {
  schema: demoSchema,
  adminSchema: demoAdminSchema,
  migrations: demoMigrationsDir,
  encryptedColumns: [memberEmail],
  seed: loadDemoData,
};
