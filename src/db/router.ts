import type { Tenant } from '../tenancy/tenants-file.js';
import type { DedicatedPools } from './dedicated-pools.js';
import type { Pool } from './pool.js';
import type { ConnectionSource } from './request-transaction.js';
import { type AcquireSlot, gateAlone, oneAtATimePerTenant } from './scheduler.js';
import type { Place } from './write-pause.js';

/** Where one transaction of a tenant runs: its connections, and its turn at them. */
export interface TransactionRoute {
  readonly source: ConnectionSource;
  readonly acquireSlot: AcquireSlot;
}

/** The route of a tenant's requests, and of its subscription events (one at a time per tenant). */
export interface Router {
  request(tenant: Tenant): TransactionRoute;
  event(tenant: Tenant): TransactionRoute;
  /** A dedicated tenant's own database, read-only (the admin host's counts, SPEC §10). */
  dedicatedRead(tenantId: number): TransactionRoute;
}

export interface RouterOptions {
  /** The runtime role's pool: every shared tenant. */
  pool: Pool;
  /** Fair turns at `pool` (db/scheduler.ts). */
  acquireSlot: AcquireSlot;
  /**
   * Fair turns for one-round-trip reads, before their turn at any pool (FAST_PATH_CONCURRENCY):
   * one gate for all of them, as they share one PostgreSQL's cores. Unset: no gate.
   */
  aloneGate?: AcquireSlot | undefined;
  /** The admin role's pool, for the system host only (the tenancy plugin answers 503 without it). */
  adminPool?: Pool | undefined;
  /** Tenants with `isolation: database`; unset when no tenant has one. */
  dedicated?: DedicatedPools | undefined;
  /** How long a subscription event waits behind the tenant's earlier events. */
  eventWaitTimeoutMs: number;
  /**
   * Where the tenant's rows are, as the database records it (tiers/tiers.ts), not as the file
   * says: `tenants move` switches it while the file still names the old place.
   * @default the tenants file's `isolation`
   */
  placementOf?: (tenantId: number) => Place;
  /** A write found the tenant's rows moved elsewhere (db/write-pause.ts): read the placements again. */
  onMoved?: (tenantId: number) => void;
}

/**
 * The one place that decides which database a tenant's transaction runs in (SPEC §10): the
 * system host on the admin pool, a dedicated tenant on its own database (`_ro` unless the
 * transaction may write, `_rw` if it may), every other tenant on the shared runtime pool.
 * Everything else about the transaction (settings, READ ONLY, RLS) is the same on both tiers.
 */
export function createRouter(options: RouterOptions): Router {
  const { pool, adminPool, dedicated, onMoved, aloneGate } = options;
  const gated = (acquire: AcquireSlot): AcquireSlot => (aloneGate ? gateAlone(aloneGate, acquire) : acquire);
  const acquireShared = gated(options.acquireSlot);
  const placeOf = (tenant: Tenant): Place => options.placementOf?.(tenant.id) ?? tenant.isolation;
  const sharedSource: ConnectionSource = {
    connectFor: () => pool.connect(),
    writeFence: { place: 'shared', onMoved },
  };
  const shared: TransactionRoute = { source: sharedSource, acquireSlot: acquireShared };
  const sharedEvent: TransactionRoute = {
    source: sharedSource,
    acquireSlot: oneAtATimePerTenant(acquireShared, options.eventWaitTimeoutMs),
  };
  const dedicatedSlot = dedicated && gated(dedicated.scheduler.acquire);
  const dedicatedEventSlot = dedicatedSlot && oneAtATimePerTenant(dedicatedSlot, options.eventWaitTimeoutMs);

  function dedicatedRoute(tenantId: number, acquireSlot: AcquireSlot | undefined): TransactionRoute {
    if (!dedicated || !acquireSlot) {
      // The placement check (tiers/placement.ts) refuses such a tenant set before it serves.
      throw new Error(`tenant ${tenantId} has a database of its own, but no dedicated pools are open`);
    }
    return {
      source: {
        connectFor: (readOnly) => dedicated.connect(tenantId, readOnly ? 'read' : 'write'),
        writeFence: { place: 'database', onMoved },
      },
      acquireSlot,
    };
  }

  const adminSource: ConnectionSource = { connectFor: () => adminPool!.connect() };
  return {
    request(tenant) {
      if (tenant.kind === 'system') return { source: adminSource, acquireSlot: acquireShared };
      return placeOf(tenant) === 'database' ? dedicatedRoute(tenant.id, dedicatedSlot) : shared;
    },
    event(tenant) {
      if (tenant.kind === 'system') return { source: adminSource, acquireSlot: sharedEvent.acquireSlot };
      return placeOf(tenant) === 'database' ? dedicatedRoute(tenant.id, dedicatedEventSlot) : sharedEvent;
    },
    dedicatedRead: (tenantId) => dedicatedRoute(tenantId, dedicatedSlot),
  };
}
