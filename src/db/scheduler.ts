import { overloaded } from '../errors.js';

/**
 * Waits for a connection slot of `tenantId`'s; resolves with the function that gives it back.
 * `use` is `'alone'` for a read that is one round trip and nothing else (the fast path's
 * runAlone): a gate in front of the pool may limit those (gateAlone).
 */
export type AcquireSlot = (tenantId: number, use?: SlotUse) => Promise<() => void>;
export type SlotUse = 'transaction' | 'alone';

export interface PoolSchedulerOptions {
  /** Connections any one tenant may hold: the whole pool (PG_POOL_MAX). */
  size: number;
  /**
   * Connections beyond `size`, only for tenants below their fair share while the pool is taken
   * (PG_POOL_RESERVE), as PgBouncer's reserve_pool: a newcomer need not wait for a flood's slow
   * statements to end. The pg pool holds `size + reserve` connections. @default 0
   */
  reserve?: number;
  /** How long a request waits for a slot before it is shed with 503 OVERLOADED (PG_POOL_WAIT_MS). */
  waitTimeoutMs: number;
  /** Told of every request shed (metrics). */
  onShed?: (tenantId: number) => void;
}

export interface PoolScheduler {
  readonly acquire: AcquireSlot;
  /** Requests waiting for a slot now, over all tenants. */
  waiting(): number;
}

interface Waiter {
  grant(): void;
}

interface TenantState {
  /** Slots held now. */
  active: number;
  /** FIFO: a tenant's own requests are served in arrival order. */
  readonly queue: Waiter[];
  /** Ticket of the last grant, for round-robin among tenants that hold as many slots. */
  lastServed: number;
}

/**
 * Shares the database pool between tenants, fairly and without wasting it (SPEC §7, catalogue
 * F5, G4). Work-conserving: while a slot is free nobody waits, so one busy tenant may use the
 * whole pool while no other tenant waits; a burst queues instead of failing. Fair: when a slot
 * frees up and several tenants wait, it goes to the waiting tenant that holds the fewest slots
 * (ties: the one served longest ago), so under contention every waiting tenant gets its turn and
 * the shares converge to equal (max-min fairness). Bounded by time, not length: a request waits
 * at most `waitTimeoutMs`, then fails with 503 OVERLOADED and Retry-After.
 *
 * The reserve keeps the noisy-neighbour guarantee without giving up work conservation: a tenant
 * flooding slow statements holds the whole pool, and a slot it frees can be a second away; a
 * tenant below its fair share (size / tenants with work) takes a reserve slot at once instead.
 * A tenant alone is at its fair share with the whole pool, so it never takes the reserve.
 *
 * Entries exist only for tenants with work in flight or waiting: memory is bounded by them.
 */
export function createPoolScheduler(options: PoolSchedulerOptions): PoolScheduler {
  const { size, waitTimeoutMs } = options;
  const reserve = options.reserve ?? 0;
  const tenants = new Map<number, TenantState>();
  let active = 0;
  let waiting = 0;
  let tickets = 0;

  const fairShare = () => Math.ceil(size / Math.max(1, tenants.size));
  const mayTake = (state: TenantState) =>
    active < size || (active < size + reserve && state.active < fairShare());

  function take(tenantId: number, state: TenantState): () => void {
    active++;
    state.active++;
    state.lastServed = ++tickets;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      active--;
      state.active--;
      if (state.active === 0 && state.queue.length === 0) tenants.delete(tenantId);
      dispatch();
    };
  }

  /** Hands free slots to waiting tenants, fewest slots held first. */
  function dispatch(): void {
    for (;;) {
      let next: [number, TenantState] | undefined;
      for (const entry of tenants) {
        const state = entry[1];
        if (state.queue.length === 0) continue;
        const best = next?.[1];
        if (
          !best ||
          state.active < best.active ||
          (state.active === best.active && state.lastServed < best.lastServed)
        ) {
          next = entry;
        }
      }
      if (!next || !mayTake(next[1])) return;
      next[1].queue.shift()!.grant();
    }
  }

  async function acquire(tenantId: number): Promise<() => void> {
    let state = tenants.get(tenantId);
    if (!state) {
      state = { active: 0, queue: [], lastServed: 0 };
      tenants.set(tenantId, state);
    }
    const own = state;
    // Nobody of this tenant queues ahead of it, and a slot is there: take it. (Other tenants'
    // waiters would have been given a free slot already: a free slot means nobody waits for it.)
    if (own.queue.length === 0 && mayTake(own)) return take(tenantId, own);
    waiting++;
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          clearTimeout(timer);
          waiting--;
          resolve(take(tenantId, own));
        },
      };
      const timer = setTimeout(() => {
        own.queue.splice(own.queue.indexOf(waiter), 1);
        waiting--;
        if (own.active === 0 && own.queue.length === 0) tenants.delete(tenantId);
        options.onShed?.(tenantId);
        reject(overloaded(1));
      }, waitTimeoutMs);
      own.queue.push(waiter);
    });
  }

  return { acquire, waiting: () => waiting };
}

/**
 * One slot at a time per tenant, in front of `acquire`: subscription events of a tenant run one
 * after another, so a tenant's many subscribers never crowd out its ordinary requests; each
 * event still takes its fair turn at the pool through `acquire`. An event waits for its lane at
 * most `waitTimeoutMs` (then OVERLOADED, like a request). Lanes exist only while in use.
 */
export function oneAtATimePerTenant(acquire: AcquireSlot, waitTimeoutMs: number): AcquireSlot {
  const lanes = new Map<number, (() => void)[]>();

  function leave(tenantId: number, queue: (() => void)[]): void {
    const next = queue.shift();
    if (next) next();
    else lanes.delete(tenantId);
  }

  async function enter(tenantId: number): Promise<() => void> {
    let queue = lanes.get(tenantId);
    if (!queue) {
      // The lane is taken by this caller; the array holds those waiting behind it.
      queue = [];
      lanes.set(tenantId, queue);
    } else {
      const own = queue;
      await new Promise<void>((resolve, reject) => {
        const turn = () => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          own.splice(own.indexOf(turn), 1);
          reject(overloaded(1));
        }, waitTimeoutMs);
        own.push(turn);
      });
    }
    const own = queue;
    let left = false;
    return () => {
      if (!left) {
        left = true;
        leave(tenantId, own);
      }
    };
  }

  return async (tenantId, use) => inFront(await enter(tenantId), () => acquire(tenantId, use));
}

/** After `held` (a lane, a gate): `acquire`, both given back together; `held` alone if `acquire` fails. */
async function inFront(held: () => void, acquire: () => Promise<() => void>): Promise<() => void> {
  try {
    const release = await acquire();
    return () => {
      release();
      held();
    };
  } catch (error) {
    held();
    throw error;
  }
}

/**
 * `acquire` with a gate for one-round-trip reads (FAST_PATH_CONCURRENCY): a read that is one
 * statement (`use` 'alone') first takes a slot of `gate`, a fair scheduler of its own, then its
 * turn at `acquire`; a transaction goes straight to `acquire`. Such a read holds its connection
 * only while PostgreSQL works on it, so the pool's size is how many statements PostgreSQL runs
 * at once: more than its cores and they share them, every answer slower and the tail longest,
 * while a transaction, idle between its statements, wants more connections. The gate bounds
 * the one without starving the other. No deadlock: a gated read takes no row lock anyone waits
 * for, and a transaction never waits at the gate.
 */
export function gateAlone(gate: AcquireSlot, acquire: AcquireSlot): AcquireSlot {
  return async (tenantId, use) => {
    if (use !== 'alone') return acquire(tenantId, use);
    return inFront(await gate(tenantId), () => acquire(tenantId, use));
  };
}
