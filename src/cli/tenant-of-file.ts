import type { Tenant } from '../tenancy/tenants-file.js';
import { UsageError } from './command.js';

/** The main database's URL (its name is NAME in `<NAME>_t<ID>`): DATABASE_URL, else DATABASE_OWNER_URL. */
export function mainUrlFromEnv(env: NodeJS.ProcessEnv): string {
  const mainUrl = env.DATABASE_URL ?? env.DATABASE_OWNER_URL;
  if (!mainUrl) throw new UsageError('DATABASE_URL is not set (it names the main database)');
  if (!URL.canParse(mainUrl)) throw new UsageError('DATABASE_URL is not a URL');
  return mainUrl;
}

/**
 * Regular tenant `tenantId` of TENANTS_FILE and the file's virtual tenants, for the commands that
 * act on a tenant of the file; undefined after saying on stderr why there is none (exit 1).
 */
export async function regularTenantOfFile(
  env: NodeJS.ProcessEnv,
  command: string,
  tenantId: number,
): Promise<{ tenant: Tenant; virtualTenants: Tenant[]; tenantsFile: string } | undefined> {
  const { readTenantsFile } = await import('../tenancy/tenants-file.js');
  const tenantsFile = env.TENANTS_FILE || './tenants.json';
  const file = await readTenantsFile(tenantsFile);
  if (!file.ok) {
    process.stderr.write(`tenantql ${command}: invalid tenants file ${tenantsFile}:\n`);
    for (const problem of file.problems) process.stderr.write(`  ${problem}\n`);
    return undefined;
  }
  const tenant = file.config.tenants.find((t) => t.id === tenantId && t.kind === 'regular');
  if (!tenant) {
    process.stderr.write(`tenantql ${command}: no regular tenant ${tenantId} in ${tenantsFile}\n`);
    return undefined;
  }
  return { tenant, virtualTenants: file.config.tenants.filter((t) => t.kind === 'virtual'), tenantsFile };
}

/** VALKEY_URL (or REDIS_URL, default redis://127.0.0.1:6379, as the server) or VALKEY_CLUSTER_NODES. */
export function valkeyTargetFromEnv(env: NodeJS.ProcessEnv): {
  valkeyUrl: string;
  valkeyClusterNodes: string[] | undefined;
} {
  return {
    valkeyUrl: env.VALKEY_URL ?? env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    valkeyClusterNodes: env.VALKEY_CLUSTER_NODES?.split(',')
      .map((node) => node.trim())
      .filter(Boolean),
  };
}
