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

/** How often an instance that cannot hear Valkey reads the placements again. */
export const PLACEMENT_POLL_MS = 1_000;

/**
 * Keeps `tiers` on the placements the database records between reloads: a `tenants move`
 * announces its switch on Valkey; while Valkey is not there to hear it (in-process mode, or an
 * outage, when a notice may be lost), the placements are read again every second instead, so
 * such an instance follows a move within about a second too, before the move deletes the old
 * rows. Returns what stops the polling.
 */
export function followPlacements(
  tiers: Tiers,
  valkey: { state(): string; onPlacementNotice(listener: (tenantId: number) => void): void },
  pollMs = PLACEMENT_POLL_MS,
): () => void {
  valkey.onPlacementNotice(() => void tiers.refresh());
  const timer = setInterval(() => {
    if (valkey.state() !== 'ready') void tiers.refresh();
  }, pollMs);
  timer.unref();
  return () => clearInterval(timer);
}
