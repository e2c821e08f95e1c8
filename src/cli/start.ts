import { defineCommand } from './command.js';

export default defineCommand({
  name: 'start',
  summary: 'run the server (npm start)',
  usage: [''],
  description: `Runs the server and logs one line with the listening URL once it accepts requests.
With no DATABASE_URL it starts an embedded PostgreSQL under .data/, creates TENANTS_FILE from
tenants.example.json if absent, and loads demo data. SIGTERM or SIGINT drain and stop it;
SIGHUP reloads the tenants file. Every setting is in the README's "Configuration" section.
`,
  env: {
    PORT: 'port to listen on (default 4000)',
    HOST: 'address to listen on (default 127.0.0.1)',
    DATABASE_URL: 'the runtime role (unset: embedded PostgreSQL under .data/)',
    DATABASE_ADMIN_URL: "the admin role, for the system tenant's host (unset: it answers 503)",
    TENANTS_FILE: 'the tenants file (default ./tenants.json)',
    VALKEY_URL: 'Valkey or Redis (default redis://127.0.0.1:6379; unreachable: in-process)',
    TENANT_MASTER_KEY: "wraps the tenants' data keys: base64 of 32 bytes (unset: a dev key, with a warning)",
    TENANT_MASTER_KEY_NEW: 'during `tenantql keys rotate-master`: the next master key, accepted too',
    NODE_ENV: 'production: JWT secrets and TENANT_MASTER_KEY required, no welcome text',
  },
  async run(_args, env, loadProduct) {
    const product = await loadProduct();
    if (!product) throw new Error('there is no schema to serve (createTenantQL({ schema }))');
    const { startServer } = await import('../main.js');
    return startServer(env, product);
  },
});
