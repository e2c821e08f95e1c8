import { rateLimited } from '../errors.js';

/**
 * A per-tenant cap on transactions in flight, below the pool size, so one tenant flooding
 * slow requests cannot hold every connection (catalogue F5). A request waits in a short
 * FIFO queue for its tenant's slot; past the wait or a full queue it fails fast with 429.
 */
export interface TenantConcurrencyOptions {
  /** Slots per tenant, e.g. ceil(poolMax × TENANT_POOL_SHARE). */
  perTenant: number;
  /** How long a request may wait for a slot. @default 2000 */
  maxWaitMs?: number;
  /** Waiting requests per tenant beyond which new ones are refused at once. @default 4 × perTenant */
  maxQueue?: number;
}

interface TenantSlots {
  active: number;
  waiting: (() => void)[];
}

export function createTenantConcurrency(options: TenantConcurrencyOptions) {
  const maxWaitMs = options.maxWaitMs ?? 2_000;
  const maxQueue = options.maxQueue ?? options.perTenant * 4;
  // Entries exist only while a tenant has work in flight, so the map cannot grow unbounded.
  const tenants = new Map<number, TenantSlots>();

  function release(tenantId: number, slots: TenantSlots): void {
    const next = slots.waiting.shift();
    if (next) {
      next(); // hand the slot over directly
      return;
    }
    slots.active--;
    if (slots.active === 0) tenants.delete(tenantId);
  }

  return async function acquire(tenantId: number): Promise<() => void> {
    let slots = tenants.get(tenantId);
    if (!slots) {
      slots = { active: 0, waiting: [] };
      tenants.set(tenantId, slots);
    }
    const own = slots;
    let released = false;
    const releaseOnce = () => {
      if (!released) {
        released = true;
        release(tenantId, own);
      }
    };
    if (own.active < options.perTenant) {
      own.active++;
      return releaseOnce;
    }
    if (own.waiting.length >= maxQueue) throw rateLimited(1);
    await new Promise<void>((resolve, reject) => {
      const grant = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        own.waiting.splice(own.waiting.indexOf(grant), 1);
        reject(rateLimited(1));
      }, maxWaitMs);
      own.waiting.push(grant);
    });
    return releaseOnce;
  };
}
