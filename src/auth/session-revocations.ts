import type { EventBus } from '../cache/events.js';
import { hashSegment } from '../cache/keyspace.js';
import { liveRevocations, revokeSessions } from '../db/queries/session-revocations.js';
import { type RequestTransaction, readAsTenant } from '../db/request-transaction.js';
import type { TransactionRoute } from '../db/router.js';
import { internalError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { Tenant } from '../tenancy/tenants-file.js';
import { CLOCK_TOLERANCE_S } from './verify.js';

/**
 * How long a tenant's revocations read from PostgreSQL are used before they are read again,
 * while Valkey cannot be relied on to carry the news (down, or not configured): the bound on
 * how late another instance may learn of a revocation during an outage.
 */
export const RECHECK_MS = 5_000;
/**
 * The same while Valkey is up: a backstop for a notice lost on the way (a subscriber connection
 * that dropped for a moment), not the way the news normally travels.
 */
export const BACKSTOP_MS = 60_000;
/** After a failed read, the old revocations are used this long before the next try. */
const RETRY_MS = 1_000;

/** Is a token issued at `issuedAt` (seconds; undefined: no `iat`) covered by a revocation at `revokedAtMs`? */
export function covers(revokedAtMs: number, issuedAt: number | undefined): boolean {
  return issuedAt === undefined || issuedAt * 1000 <= revokedAtMs;
}

/** Called for each revocation this instance learns of: open streams of the subject end. */
export type RevocationListener = (tenantId: number, subjectHash: string, revokedAtMs: number) => void;

/** What a resolver may do with sessions (the context's `sessions`). */
export interface SessionRevoker {
  /**
   * Revokes `subject`'s user tokens in the tenant issued up to now, in the request's
   * transaction: once it commits, this instance refuses them at once and tells the others.
   */
  revoke(ctx: { readonly tenant: Tenant; readonly db: RequestTransaction }, subject: string): Promise<void>;
}

export interface SessionRevocationsOptions {
  /** Where each tenant's transactions run (db/router.ts): its revocations live with its rows. */
  route: (tenant: Tenant) => TransactionRoute;
  /** Carries the news between instances (in-process without Valkey). */
  events: EventBus;
  /** The Valkey state (cache/client.ts): only 'ready' lets a read be used up to BACKSTOP_MS. */
  valkeyState: () => string;
  /** JWT_MAX_TTL_SECONDS: no token lives longer, so no revocation is kept longer. */
  maxTtlSeconds: number;
  logger: Logger;
}

/** One tenant's revocations as this instance last read them. */
interface TenantRevocations {
  tenant: Tenant;
  /** subject -> when its tokens were revoked (ms since the epoch). */
  entries: Map<string, number>;
  /**
   * This instance's own revocations, with when it applied them (Date.now()): a read that began
   * before one committed does not have it, and must not take it away.
   */
  readonly own: Map<string, { readonly revokedAt: number; readonly appliedAt: number }>;
  /** When the last read began (Date.now()); 0: never read. */
  readAt: number;
  /** Whether Valkey was up when it began. */
  readWhileReady: boolean;
  /** A notice said the rows changed: read them again before the next use. */
  stale: boolean;
  /** The read in flight, which every check of the tenant waits for. */
  reading: Promise<void> | undefined;
  /** The tenant's `sessions` channel, while this instance listens to it. */
  notices: AsyncIterator<unknown> | undefined;
}

/**
 * revokeSessions (SPEC §6 "Revocation before expiry") on this instance. PostgreSQL is the
 * authority (app.session_revocations, a tenant table under forced RLS); each instance keeps
 * each tenant's rows in memory, read in the tenant's own short transaction when it first serves
 * a user token of the tenant, so a request's check is a map lookup and costs no round trip.
 *
 * - The instance that revokes applies it at once, after the commit, with or without Valkey.
 * - It publishes a notice on the tenant's `{t<ID>}:events:sessions` channel; every instance
 *   listening there reads the tenant's rows again at once (a request waits for that read), so
 *   the others refuse within a round trip of the commit. The notice carries no identifier (the
 *   subject's hash only) and is not trusted: it only triggers a read.
 * - Reads are used for RECHECK_MS while Valkey is not up (down, or never configured), else for
 *   BACKSTOP_MS: after an outage, or a lost notice, every instance has read again within that.
 * - A restart reads the rows again. Rows older than JWT_MAX_TTL_SECONDS cover only expired
 *   tokens: they are neither read nor kept (revokeSessions deletes them).
 *
 * Memory: one entry per subject revoked within a maximum token lifetime, per tenant served.
 */
export class SessionRevocations implements SessionRevoker {
  readonly #tenants = new Map<number, TenantRevocations>();
  readonly #listeners = new Set<RevocationListener>();
  readonly #keepSeconds: number;
  #closed = false;

  constructor(private readonly options: SessionRevocationsOptions) {
    // A revocation matters while a token it covers may be accepted: its exp, plus clock skew.
    this.#keepSeconds = options.maxTtlSeconds + 2 * CLOCK_TOLERANCE_S;
  }

  /**
   * Is a user token of `subject` issued at `issuedAt` (seconds; undefined: no `iat`) revoked in
   * `tenant`? Synchronous while the tenant's revocations are fresh, which is nearly always.
   */
  isRevoked(tenant: Tenant, subject: string, issuedAt: number | undefined): boolean | Promise<boolean> {
    // revokeSessions is a mutation of tenant hosts; the system host has none to revoke.
    if (tenant.kind !== 'regular') return false;
    const known = this.#known(tenant);
    known.tenant = tenant; // the request's own: a reload may have changed its settings
    if (known.reading || !this.#fresh(known)) {
      return this.#settle(known).then(() => this.#covered(known, subject, issuedAt));
    }
    return this.#covered(known, subject, issuedAt);
  }

  /**
   * The same from what this instance knows now, without reading: before each subscription
   * event (auth/stream-credentials.ts). A tenant not read yet has no revocations here.
   */
  isRevokedNow(tenantId: number, subject: string, issuedAt: number | undefined): boolean {
    const known = this.#tenants.get(tenantId);
    return known !== undefined && this.#covered(known, subject, issuedAt);
  }

  /** `listener` hears of every revocation this instance learns of, however it learns of it. */
  onRevoked(listener: RevocationListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async revoke(ctx: { readonly tenant: Tenant; readonly db: RequestTransaction }, subject: string) {
    const { tenant, db } = ctx;
    const revokedAt = await revokeSessions(db, tenant.id, subject, this.#keepSeconds);
    db.afterCommit(async () => {
      const known = this.#known(tenant);
      const at = Math.max(revokedAt, known.entries.get(subject) ?? 0);
      known.own.set(subject, { revokedAt: at, appliedAt: Date.now() });
      this.#apply(known, subject, at);
      await this.options.events.publish(tenant.id, 'sessions', {
        subjectHash: hashSegment(subject),
        revokedAt: Math.ceil(revokedAt),
      });
    });
  }

  /** Stops listening (shutdown, tests). */
  close(): void {
    this.#closed = true;
    for (const known of this.#tenants.values()) void known.notices?.return?.();
  }

  #known(tenant: Tenant): TenantRevocations {
    let known = this.#tenants.get(tenant.id);
    if (!known) {
      known = {
        tenant,
        entries: new Map(),
        own: new Map(),
        readAt: 0,
        readWhileReady: false,
        stale: true,
        reading: undefined,
        notices: undefined,
      };
      this.#tenants.set(tenant.id, known);
      this.#listen(known);
    }
    return known;
  }

  #fresh(known: TenantRevocations): boolean {
    if (known.stale) return false;
    const ready = known.readWhileReady && this.options.valkeyState() === 'ready';
    return Date.now() - known.readAt < (ready ? BACKSTOP_MS : RECHECK_MS);
  }

  #covered(known: TenantRevocations, subject: string, issuedAt: number | undefined): boolean {
    const revokedAt = known.entries.get(subject);
    return revokedAt !== undefined && covers(revokedAt, issuedAt);
  }

  /**
   * Until a read that began after the last notice has finished: the one in flight, then one of
   * its own if a notice came during it. Bounded, so a PostgreSQL slower than RECHECK_MS (or a
   * storm of notices) delays a request by a few reads, never forever.
   */
  async #settle(known: TenantRevocations): Promise<void> {
    for (let reads = 0; reads < 3 && (known.reading || !this.#fresh(known)); reads++) await this.#read(known);
  }

  /** Reads the tenant's rows, once at a time; a check that arrives meanwhile waits for it. */
  #read(known: TenantRevocations): Promise<void> {
    known.reading ??= this.#readOnce(known).finally(() => {
      known.reading = undefined;
    });
    return known.reading;
  }

  async #readOnce(known: TenantRevocations): Promise<void> {
    const startedAt = Date.now();
    const whileReady = this.options.valkeyState() === 'ready';
    // A notice that arrives during the read may describe a row it did not see: read again then.
    known.stale = false;
    try {
      const entries = await this.#select(known.tenant);
      for (const [subject, own] of known.own) {
        if (own.appliedAt < startedAt)
          known.own.delete(subject); // committed before: read
        else entries.set(subject, Math.max(entries.get(subject) ?? 0, own.revokedAt));
      }
      for (const [subject, at] of entries) {
        if (known.entries.get(subject) !== at) this.#notify(known.tenant.id, subject, at);
      }
      known.entries = entries;
      known.readAt = startedAt;
      known.readWhileReady = whileReady;
    } catch (error) {
      // PostgreSQL did not answer: what was read before stays in force, retried soon. A tenant
      // never read cannot be checked, and the request fails rather than guess.
      this.options.logger.warn(
        { tenantId: known.tenant.id, err: (error as Error).message },
        'could not read the revoked sessions',
      );
      // Masked like any database failure of a request: 500 INTERNAL_SERVER_ERROR, no driver text.
      if (known.readAt === 0) throw internalError();
      known.readAt = Math.max(known.readAt, startedAt - RECHECK_MS + RETRY_MS);
      known.readWhileReady = false;
    }
  }

  /**
   * In the tenant's own short read-only transaction, where its rows live, so RLS decides what
   * exists. Not counted as a request's round trip (no onQuery): a tenant's first user token on
   * an instance, then once per RECHECK_MS or BACKSTOP_MS at most, not once per request.
   */
  #select(tenant: Tenant): Promise<Map<string, number>> {
    return readAsTenant(this.options.route(tenant), tenant, this.options.logger, (db) =>
      liveRevocations(db, this.#keepSeconds),
    );
  }

  #apply(known: TenantRevocations, subject: string, revokedAt: number): void {
    if (known.entries.get(subject) === revokedAt) return;
    known.entries.set(subject, revokedAt);
    this.#notify(known.tenant.id, subject, revokedAt);
  }

  #notify(tenantId: number, subject: string, revokedAt: number): void {
    const subjectHash = hashSegment(subject);
    for (const listener of this.#listeners) listener(tenantId, subjectHash, revokedAt);
  }

  /** The tenant's notices, for as long as this instance runs: each one triggers a read. */
  #listen(known: TenantRevocations): void {
    if (this.#closed) return;
    const notices = this.options.events.subscribe(known.tenant.id, 'sessions');
    known.notices = notices;
    void (async () => {
      for await (const notice of notices) {
        // Open streams end at once, as for a revoked API key; the read confirms the rest.
        for (const listener of this.#listeners)
          listener(known.tenant.id, notice.subjectHash, notice.revokedAt);
        known.stale = true;
        this.#settle(known).catch(() => {});
      }
    })();
  }
}
