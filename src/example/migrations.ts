import { fileURLToPath } from 'node:url';

/** The demo's own migrations (its tables), applied after tenantql's. Shipped under migrations/. */
export const demoMigrationsDir = fileURLToPath(new URL('../../migrations/example/', import.meta.url));
