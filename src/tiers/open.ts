import { type Config, dedicatedConnections } from '../config.js';
import { createDedicatedPools, type DedicatedPools } from '../db/dedicated-pools.js';
import type { Pool } from '../db/pool.js';
import type { ConnectionSource } from '../db/request-transaction.js';
import { NO_SYNC_ROLE } from '../db/tenants-sync.js';
import type { Logger } from '../observability/logger.js';
import type { Isolation, Tenant } from '../tenancy/tenants-file.js';
import { tenantsTablePlacements } from './placement.js';
import { Tiers } from './tiers.js';

export interface OpenTiersOptions {
  config: Config;
  /** Reads the placements, as it syncs the tenants table; unset: as the owner. */
  adminPool: Pool | undefined;
  logger: Logger;
  /** Where dedicated connections go. @default config.databaseUrl (its host, port, parameters) */
  baseUrl?: string;
  onShed?: (tenantId: number) => void;
}

/**
 * The tiers of a server: what it knows of placements and credentials, and the dedicated
 * tenants' pools, which open nothing until a dedicated tenant's first request. The caller
 * checks the initial tenant set with `tiers.check` and passes the same check to the registry.
 */
export function openTiers(options: OpenTiersOptions): { tiers: Tiers; dedicated: DedicatedPools } {
  const { config } = options;
  const readPlacements = tenantsTablePlacements({
    adminPool: options.adminPool,
    ownerUrl: config.databaseOwnerUrl,
  });
  if (!readPlacements) throw new Error(NO_SYNC_ROLE);
  const tiers = new Tiers({ secretsFile: config.tenantSecretsFile, readPlacements, logger: options.logger });
  const dedicated = createDedicatedPools({
    baseUrl: options.baseUrl ?? config.databaseUrl!,
    maxConnections: dedicatedConnections(config),
    idleTimeoutMs: config.tenantPoolIdleMs,
    waitTimeoutMs: config.poolWaitTimeoutMs,
    preparedStatements: config.preparedStatements,
    credentials: (tenantId) => tiers.credentials(tenantId),
    logger: options.logger,
    onShed: options.onShed,
  });
  return { tiers, dedicated };
}

/** A tenant's connections outside a request (a product's seed): its own database, or `pool`. */
export function tenantSource(
  tenant: Tenant,
  place: Isolation,
  pool: Pool,
  dedicated: DedicatedPools,
): ConnectionSource {
  if (place !== 'database') return { connectFor: () => pool.connect(), writeFence: { place } };
  return {
    connectFor: (readOnly) => dedicated.connect(tenant.id, readOnly ? 'read' : 'write'),
    writeFence: { place },
  };
}
